//! Einsum: the output shape from the equation's subscripts and the inputs' shapes, and its
//! FLOPs (a multiply-add per point of the joint index space). Ellipses are not supported yet.

use super::{Ctx, Inferred, Op, Registry};
use crate::error::Result;
use std::collections::BTreeMap;

pub(super) fn register(r: &mut Registry) {
    r.register("Einsum", Einsum);
}

struct Einsum;

impl Op for Einsum {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let eq: String =
            cx.a.string("equation")
                .ok_or_else(|| cx.error("the equation is required"))?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
        if eq.contains("...") {
            return Err(cx.error(format!("equation '{eq}': ellipses are not supported")));
        }
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => (l.to_string(), Some(r.to_string())),
            None => (eq.clone(), None),
        };
        let terms: Vec<&str> = lhs.split(',').collect();
        let vals = cx.operands();
        if terms.len() != vals.len() {
            return Err(cx.error(format!(
                "equation '{eq}' names {} operands, the node has {}",
                terms.len(),
                vals.len()
            )));
        }
        let mut sizes: BTreeMap<char, u64> = BTreeMap::new();
        let mut count: BTreeMap<char, usize> = BTreeMap::new();
        for (term, v) in terms.iter().zip(&vals) {
            if term.chars().count() != v.shape.len()
                || !term.chars().all(|c| c.is_ascii_alphabetic())
            {
                return Err(cx.error(format!(
                    "subscripts '{term}' do not fit an input of shape {:?}",
                    v.shape
                )));
            }
            for (c, &d) in term.chars().zip(&v.shape) {
                *count.entry(c).or_default() += 1;
                match sizes.insert(c, d) {
                    Some(old) if old != d && old != 1 && d != 1 => {
                        return Err(cx.error(format!("subscript '{c}' is {old} and {d}")))
                    }
                    Some(old) if d == 1 => drop(sizes.insert(c, old)),
                    _ => {}
                }
            }
        }
        // Implicit output: the subscripts seen once, in alphabetical order.
        let rhs = rhs.unwrap_or_else(|| {
            count
                .iter()
                .filter(|(_, &n)| n == 1)
                .map(|(c, _)| *c)
                .collect()
        });
        let out = rhs
            .chars()
            .map(|c| {
                sizes
                    .get(&c)
                    .copied()
                    .ok_or_else(|| cx.error(format!("output subscript '{c}' is on no input")))
            })
            .collect::<Result<Vec<u64>>>()?;
        let points = sizes.values().fold(1u64, |p, &d| p.saturating_mul(d));
        Inferred::one(vals[0].dtype, out, points.saturating_mul(2))
    }

    /// A constant operand is a weight, as MatMul's.
    fn learnable(&self, _input: usize) -> bool {
        true
    }
}
