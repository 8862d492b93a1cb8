//! What a node checks in a deployment and an emulation before accepting them: both come from
//! the network, so a description that would make the node recurse forever (a route cycle),
//! allocate without bound (a huge stitch), overflow a duration (an absurd slowdown) or flood a
//! link is refused with the reason, and the node keeps serving.

use crate::deployment::{Deployment, Emulation, Route, Work};
use std::collections::{HashMap, HashSet};

/// Most parts one deployment may hold.
pub const MAX_PARTS: usize = 4096;
/// Most routes one deployment may hold.
pub const MAX_ROUTES: usize = 1 << 16;
/// Most elements a stitched tensor may have (1 GiB of `f32`).
pub const MAX_STITCH_ELEMENTS: usize = 1 << 28;
/// Largest emulated slowdown of a node.
pub const MAX_SLOWDOWN: f64 = 1000.0;
/// Largest emulated one-way delay of a link (ms).
pub const MAX_DELAY_MS: f64 = 60_000.0;
/// Emulated link rates must lie in this range (Mbit/s).
pub const RATE_RANGE_MBPS: std::ops::RangeInclusive<f64> = 0.001..=1e6;

/// Checks the deployment's structure, naming the first problem.
pub(crate) fn deployment(d: &Deployment) -> Result<(), String> {
    if d.parts.len() > MAX_PARTS || d.routes.len() > MAX_ROUTES {
        return Err(format!(
            "{} parts and {} routes: at most {MAX_PARTS} parts and {MAX_ROUTES} routes",
            d.parts.len(),
            d.routes.len()
        ));
    }
    if !d.nodes.contains_key(&d.sink) {
        return Err(format!("sink node '{}' has no address", d.sink));
    }
    let mut ids = HashSet::new();
    for p in &d.parts {
        if !ids.insert(p.id.as_str()) {
            return Err(format!("part id '{}' is used twice", p.id));
        }
        if !d.nodes.contains_key(&p.node) {
            return Err(format!("part '{}' is on unknown node '{}'", p.id, p.node));
        }
        if let Work::Stitch { shape, regions } = &p.work {
            if regions.len() != p.inputs.len() || p.outputs.len() != 1 {
                return Err(format!(
                    "stitch part '{}' needs one input per region and one output",
                    p.id
                ));
            }
            stitch(shape, regions).map_err(|e| format!("stitch part '{}': {e}", p.id))?;
        }
    }
    if d.watch.len() > MAX_PARTS {
        return Err(format!(
            "{} links to watch: at most {MAX_PARTS}",
            d.watch.len()
        ));
    }
    for (from, to) in &d.watch {
        if from == to || !d.nodes.contains_key(from) || !d.nodes.contains_key(to) {
            return Err(format!(
                "link to watch {from}->{to} is not between two nodes of the deployment"
            ));
        }
    }
    for r in &d.routes {
        for n in [&r.from, &r.to] {
            if !d.nodes.contains_key(n) {
                return Err(format!("route of '{}' names unknown node '{n}'", r.tensor));
            }
        }
        if let Some([r0, r1, c0, c1]) = r.crop {
            if r0 >= r1 || c0 >= c1 {
                return Err(format!("route of '{}' has an empty crop", r.tensor));
            }
        }
    }
    acyclic(&d.routes)
}

/// A stitch's output must be of bounded size and every region inside it.
fn stitch(shape: &[usize; 4], regions: &[[usize; 4]]) -> Result<(), String> {
    let elements = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_STITCH_ELEMENTS)
        .ok_or_else(|| format!("output shape {shape:?} is over {MAX_STITCH_ELEMENTS} elements"))?;
    if elements == 0 {
        return Err(format!("output shape {shape:?} is empty"));
    }
    for r in regions {
        if r[0] >= r[1] || r[1] > shape[2] || r[2] >= r[3] || r[3] > shape[3] {
            return Err(format!("region {r:?} is not inside {shape:?}"));
        }
    }
    Ok(())
}

/// A tensor published on a node travels its routes, and each delivery is published again: a
/// cycle of routes (a node routing a tensor to itself under the same name, or two nodes
/// sending a tensor back and forth) would publish forever.
fn acyclic(routes: &[Route]) -> Result<(), String> {
    let mut next: HashMap<(&str, &str), Vec<(&str, &str)>> = HashMap::new();
    for r in routes {
        next.entry((r.from.as_str(), r.tensor.as_str()))
            .or_default()
            .push((r.to.as_str(), r.deliver_as.as_str()));
    }
    // Iterative depth-first search with three colours: no recursion on input from outside.
    let mut done: HashSet<(&str, &str)> = HashSet::new();
    for &start in next.keys() {
        if done.contains(&start) {
            continue;
        }
        let mut on_path: HashSet<(&str, &str)> = HashSet::from([start]);
        let mut stack = vec![(start, 0usize)];
        while let Some((at, i)) = stack.pop() {
            let succ = next.get(&at).map_or(&[][..], |v| v.as_slice());
            match succ.get(i) {
                Some(&to) => {
                    stack.push((at, i + 1));
                    if on_path.contains(&to) {
                        return Err(format!(
                            "routes form a cycle through tensor '{}' on node '{}'",
                            to.1, to.0
                        ));
                    }
                    if !done.contains(&to) {
                        on_path.insert(to);
                        stack.push((to, 0));
                    }
                }
                None => {
                    on_path.remove(&at);
                    done.insert(at);
                }
            }
        }
    }
    Ok(())
}

/// Checks rates, delays and factors are finite and in range, naming the first bad one.
pub(crate) fn emulation(e: &Emulation) -> Result<(), String> {
    for (n, f) in &e.slowdown {
        if !(f.is_finite() && (1.0..=MAX_SLOWDOWN).contains(f)) {
            return Err(format!(
                "slowdown of node '{n}' must be between 1 and {MAX_SLOWDOWN}, got {f}"
            ));
        }
    }
    for (n, r) in &e.radios {
        if !RATE_RANGE_MBPS.contains(r) {
            return Err(format!(
                "radio of node '{n}': the rate must be within {:?} Mbit/s, got {r}",
                RATE_RANGE_MBPS
            ));
        }
    }
    for l in &e.links {
        let rate_ok = l.mbps.is_none_or(|r| RATE_RANGE_MBPS.contains(&r));
        let delay_ok = (0.0..=MAX_DELAY_MS).contains(&l.delay_ms);
        if !(rate_ok && delay_ok) {
            return Err(format!(
                "link {} -> {}: the rate must be within {:?} Mbit/s and the delay within 0 to \
                 {MAX_DELAY_MS} ms, got {:?} Mbit/s and {} ms",
                l.from, l.to, RATE_RANGE_MBPS, l.mbps, l.delay_ms
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{LinkShape, PartSpec};

    fn route(from: &str, tensor: &str, to: &str, deliver_as: &str) -> Route {
        Route {
            tensor: tensor.into(),
            from: from.into(),
            to: to.into(),
            crop: None,
            deliver_as: deliver_as.into(),
        }
    }

    #[test]
    fn route_cycles_are_found_and_chains_pass() {
        let chain = [
            route("a", "x", "b", "x"),
            route("b", "x", "b", "y"),
            route("b", "y", "c", "y"),
            route("a", "x", "c", "x"),
        ];
        assert!(acyclic(&chain).is_ok());
        let self_loop = [route("a", "x", "a", "x")];
        assert!(acyclic(&self_loop).unwrap_err().contains("cycle"));
        let ping_pong = [route("a", "x", "b", "y"), route("b", "y", "a", "x")];
        assert!(acyclic(&ping_pong).unwrap_err().contains("cycle"));
        let local = [route("a", "x", "a", "y"), route("a", "y", "a", "x")];
        assert!(acyclic(&local).is_err());
    }

    #[test]
    fn stitches_must_be_bounded_and_regions_inside() {
        assert!(stitch(&[1, 8, 4, 4], &[[0, 2, 0, 4], [2, 4, 0, 4]]).is_ok());
        assert!(stitch(&[1, 1 << 20, 1 << 20, 1 << 20], &[]).is_err());
        assert!(stitch(&[usize::MAX, 2, 2, 2], &[]).is_err());
        assert!(stitch(&[1, 8, 4, 4], &[[0, 5, 0, 4]]).is_err());
        assert!(stitch(&[1, 8, 4, 4], &[[2, 2, 0, 4]]).is_err());
    }

    #[test]
    fn emulation_values_must_be_sane() {
        let slow = |f: f64| Emulation {
            slowdown: [("edge0".to_string(), f)].into(),
            ..Emulation::default()
        };
        assert!(emulation(&slow(3.0)).is_ok());
        for bad in [1e300, f64::NAN, 0.5, f64::INFINITY] {
            assert!(emulation(&slow(bad)).is_err(), "{bad}");
        }
        let link = |mbps: Option<f64>, delay_ms: f64| Emulation {
            links: vec![LinkShape {
                from: "a".into(),
                to: "b".into(),
                mbps,
                delay_ms,
                cut: false,
            }],
            ..Emulation::default()
        };
        assert!(emulation(&link(Some(100.0), 5.0)).is_ok());
        assert!(emulation(&link(None, 0.0)).is_ok());
        for (m, d) in [
            (Some(0.0), 1.0),
            (Some(1e300), 1.0),
            (None, 1e12),
            (None, -1.0),
        ] {
            assert!(emulation(&link(m, d)).is_err(), "{m:?} {d}");
        }
        for (r, ok) in [
            (50.0, true),
            (0.0, false),
            (f64::NAN, false),
            (1e300, false),
        ] {
            let radio = Emulation {
                radios: [("a".to_string(), r)].into(),
                ..Emulation::default()
            };
            assert_eq!(emulation(&radio).is_ok(), ok, "{r}");
        }
    }

    #[test]
    fn duplicate_part_ids_are_refused() {
        let part = |id: &str| PartSpec {
            id: id.into(),
            node: "a".into(),
            work: Work::Stitch {
                shape: [1, 1, 2, 2],
                regions: vec![[0, 2, 0, 2]],
            },
            inputs: vec![("x".into(), "x".into())],
            outputs: vec![("y".into(), "y".into())],
        };
        let d = Deployment {
            id: "t".into(),
            session: Default::default(),
            first_frame: 0,
            nodes: [("a".to_string(), "127.0.0.1:1".to_string())].into(),
            parts: vec![part("p"), part("p")],
            routes: vec![],
            sink: "a".into(),
            inputs: vec![],
            outputs: vec![],
            watch: Vec::new(),
        };
        assert!(deployment(&d).unwrap_err().contains("used twice"));
    }
}
