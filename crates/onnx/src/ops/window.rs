//! Sliding-window operators: Conv, ConvTranspose, MaxPool, AveragePool, LpPool, and the global
//! pools.

use super::{Ctx, Inferred, Op, Registry, Tiling, Val};
use crate::attributes::Attributes;
use crate::error::Result;

pub(super) fn register(r: &mut Registry) {
    r.register("Conv", Conv);
    r.register("ConvTranspose", ConvTranspose);
    r.register("MaxPool", Pool::tiled(true));
    r.register("AveragePool", Pool::tiled(false));
    // The tiler cuts max and average pools only.
    r.register(
        "LpPool",
        Pool {
            max: false,
            tiles: false,
        },
    );
    r.register("GlobalAveragePool", GlobalPool);
    r.register("GlobalMaxPool", GlobalPool);
    r.register("GlobalLpPool", GlobalPool);
}

/// One spatial axis of a window, as the attributes give it.
struct Axis {
    input: u64,
    kernel: u64,
    stride: u64,
    dilation: u64,
    pad_begin: u64,
    pad_end: u64,
}

/// Spatial output size of a sliding window, following the ONNX Conv/Pool formulas.
fn window_out(a: &Attributes, x: &Axis, auto_pad: &str, ceil: bool) -> Result<u64> {
    let dk = (x.kernel - 1).saturating_mul(x.dilation).saturating_add(1);
    let s = x.stride;
    let out = match auto_pad {
        "SAME_UPPER" | "SAME_LOWER" => x.input.div_ceil(s),
        "VALID" => {
            if x.input < dk {
                return Err(a.error(format!("window {dk} larger than input {}", x.input)));
            }
            (x.input - dk) / s + 1
        }
        _ => {
            let span = x
                .input
                .saturating_add(x.pad_begin)
                .saturating_add(x.pad_end);
            if span < dk {
                return Err(a.error(format!("window {dk} larger than padded input {span}")));
            }
            if ceil {
                let mut o = (span - dk).div_ceil(s) + 1;
                // As PyTorch and ONNX Runtime: the last window must start inside the input or
                // its leading padding.
                if (o - 1).saturating_mul(s) >= x.input + x.pad_begin {
                    o -= 1;
                }
                o
            } else {
                (span - dk) / s + 1
            }
        }
    };
    Ok(out)
}

/// The spatial rank of `x`, which must be N,C,spatial...
fn spatial_rank(a: &Attributes, x: &Val) -> Result<usize> {
    x.shape
        .len()
        .checked_sub(2)
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            a.error(format!(
                "input rank {} is not N,C,spatial...",
                x.shape.len()
            ))
        })
}

/// The output's spatial sizes for a window of `kernel` over `x`.
fn window(a: &Attributes, x: &Val, kernel: &[u64], ceil: bool) -> Result<Vec<u64>> {
    let sp = spatial_rank(a, x)?;
    if kernel.len() != sp || kernel.contains(&0) {
        return Err(a.error(format!(
            "kernel {kernel:?} does not fit input {:?}",
            x.shape
        )));
    }
    let strides = a.ints("strides").unwrap_or_else(|| vec![1; sp]);
    let dil = a.ints("dilations").unwrap_or_else(|| vec![1; sp]);
    let pads = a.ints("pads").unwrap_or_else(|| vec![0; 2 * sp]);
    let auto_pad = a.string("auto_pad").unwrap_or_default();
    if strides.len() != sp || dil.len() != sp || pads.len() != 2 * sp {
        return Err(a.error("strides, dilations or pads do not match the spatial rank"));
    }
    if strides.iter().chain(&dil).any(|&v| v < 1) || pads.iter().any(|&p| p < 0) {
        return Err(a.error("strides and dilations must be positive and pads non-negative"));
    }
    (0..sp)
        .map(|i| {
            let axis = Axis {
                input: x.shape[2 + i],
                kernel: kernel[i],
                stride: strides[i] as u64,
                dilation: dil[i] as u64,
                pad_begin: pads[i] as u64,
                pad_end: pads[sp + i] as u64,
            };
            window_out(a, &axis, &auto_pad, ceil)
        })
        .collect()
}

fn product(v: &[u64]) -> u64 {
    v.iter().fold(1u64, |p, &d| p.saturating_mul(d))
}

/// Conv: N,C,spatial... input, M,C/group,kernel... weight, optional bias.
struct Conv;

impl Op for Conv {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let a = &cx.a;
        let x = cx.input(0)?;
        let w = cx.input(1)?;
        spatial_rank(a, x)?;
        if w.shape.len() != x.shape.len() {
            return Err(a.error(format!(
                "weight shape {:?} does not match input {:?}",
                w.shape, x.shape
            )));
        }
        let group = a.int("group", 1).max(1) as u64;
        let kernel: Vec<u64> = a
            .ints("kernel_shape")
            .map(|k| k.iter().map(|&v| v.max(0) as u64).collect())
            .unwrap_or_else(|| w.shape[2..].to_vec());
        let spatial = window(a, x, &kernel, false)?;
        let (m, cg) = (w.shape[0], w.shape[1]);
        if x.shape[1] != cg.saturating_mul(group) || !m.is_multiple_of(group) {
            return Err(a.error(format!(
                "input channels {} do not match weight {:?} with group {group}",
                x.shape[1], w.shape
            )));
        }
        let mut out = vec![x.shape[0], m];
        out.extend(&spatial);
        let positions = product(&out);
        let k = product(&kernel).saturating_mul(cg);
        let bias = if cx.has_input(2) { positions } else { 0 };
        let flops = positions.saturating_mul(k).saturating_mul(2);
        Inferred::one(x.dtype, out, flops.saturating_add(bias))
    }

    fn learnable(&self, _input: usize) -> bool {
        true
    }

    fn tiling(&self) -> Tiling {
        Tiling::Window
    }
}

/// ConvTranspose: N,C,spatial... input, C,M/group,kernel... weight, optional bias. Each output
/// axis is `stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pads`, or
/// `output_shape` when given (the pads then follow from it).
struct ConvTranspose;

impl ConvTranspose {
    /// The output's spatial sizes.
    fn spatial(cx: &Ctx, x: &Val, kernel: &[u64]) -> Result<Vec<u64>> {
        let a = &cx.a;
        let sp = spatial_rank(a, x)?;
        let get = |name: &str, default: i64, n: usize| -> Result<Vec<i64>> {
            let v = a.ints(name).unwrap_or_else(|| vec![default; n]);
            if v.len() != n || v.iter().any(|&e| e < 0) {
                return Err(a.error(format!("{name} {v:?} must be {n} non-negative values")));
            }
            Ok(v)
        };
        if let Some(shape) = a.ints("output_shape") {
            // Either the spatial sizes or the whole shape.
            let spatial = &shape[shape.len().saturating_sub(sp)..];
            if spatial.len() != sp || spatial.iter().any(|&d| d < 1) {
                return Err(a.error(format!(
                    "output_shape {shape:?} does not fit {sp} spatial axes"
                )));
            }
            return Ok(spatial.iter().map(|&d| d as u64).collect());
        }
        let strides = get("strides", 1, sp)?;
        let dil = get("dilations", 1, sp)?;
        let pads = get("pads", 0, 2 * sp)?;
        let out_pad = get("output_padding", 0, sp)?;
        if strides.iter().chain(&dil).any(|&v| v < 1) {
            return Err(a.error("strides and dilations must be positive"));
        }
        let same = a.string("auto_pad").is_some_and(|p| p.starts_with("SAME"));
        (0..sp)
            .map(|i| {
                let (s, d) = (strides[i] as u64, dil[i] as u64);
                if same {
                    return Ok(x.shape[2 + i].saturating_mul(s));
                }
                let full = s
                    .saturating_mul(x.shape[2 + i].saturating_sub(1))
                    .saturating_add(out_pad[i] as u64)
                    .saturating_add((kernel[i].saturating_sub(1)).saturating_mul(d))
                    .saturating_add(1);
                let cut = (pads[i] as u64).saturating_add(pads[sp + i] as u64);
                full.checked_sub(cut).filter(|&o| o > 0).ok_or_else(|| {
                    a.error(format!("pads {pads:?} leave no output on spatial axis {i}"))
                })
            })
            .collect()
    }
}

impl Op for ConvTranspose {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let a = &cx.a;
        let x = cx.input(0)?;
        let w = cx.input(1)?;
        spatial_rank(a, x)?;
        if w.shape.len() != x.shape.len() {
            return Err(a.error(format!(
                "weight shape {:?} does not match input {:?}",
                w.shape, x.shape
            )));
        }
        let group = a.int("group", 1).max(1) as u64;
        if w.shape[0] != x.shape[1] || !x.shape[1].is_multiple_of(group) {
            return Err(a.error(format!(
                "input channels {} do not match weight {:?} with group {group}",
                x.shape[1], w.shape
            )));
        }
        let kernel: Vec<u64> = a
            .ints("kernel_shape")
            .map(|k| k.iter().map(|&v| v.max(0) as u64).collect())
            .unwrap_or_else(|| w.shape[2..].to_vec());
        if kernel.len() != w.shape.len() - 2 || kernel.contains(&0) {
            return Err(a.error(format!(
                "kernel {kernel:?} does not fit weight {:?}",
                w.shape
            )));
        }
        let mut out = vec![x.shape[0], w.shape[1].saturating_mul(group)];
        out.extend(Self::spatial(cx, x, &kernel)?);
        // Every input element is spread over a kernel of output elements for each output
        // channel of its group.
        let spread = product(&kernel).saturating_mul(w.shape[1]);
        let flops = x.elements().saturating_mul(spread).saturating_mul(2);
        let bias = if cx.has_input(2) { product(&out) } else { 0 };
        Inferred::one(x.dtype, out, flops.saturating_add(bias))
    }

    fn learnable(&self, _input: usize) -> bool {
        true
    }
}

/// MaxPool, AveragePool and LpPool.
struct Pool {
    max: bool,
    tiles: bool,
}

impl Pool {
    fn tiled(max: bool) -> Pool {
        Pool { max, tiles: true }
    }
}

impl Op for Pool {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let a = &cx.a;
        let x = cx.input(0)?;
        let kernel: Vec<u64> = a
            .ints("kernel_shape")
            .ok_or_else(|| a.error("kernel_shape is required"))?
            .iter()
            .map(|&v| v.max(0) as u64)
            .collect();
        let spatial = window(a, x, &kernel, a.int("ceil_mode", 0) != 0)?;
        if self.max && cx.node.output.len() > 1 {
            return Err(a.error("the Indices output of MaxPool is not supported"));
        }
        let mut out = x.shape[..2].to_vec();
        out.extend(&spatial);
        let flops = product(&out).saturating_mul(product(&kernel));
        Inferred::one(x.dtype, out, flops)
    }

    fn tiling(&self) -> Tiling {
        if self.tiles {
            Tiling::Window
        } else {
            Tiling::None
        }
    }
}

/// GlobalAveragePool and GlobalMaxPool: every spatial axis reduced to 1.
struct GlobalPool;

impl Op for GlobalPool {
    fn infer(&self, cx: &Ctx) -> Result<Inferred> {
        let x = cx.input(0)?;
        if x.shape.len() < 3 {
            return Err(cx.error("input must be N,C,spatial..."));
        }
        let mut out = x.shape[..2].to_vec();
        out.extend(std::iter::repeat_n(1, x.shape.len() - 2));
        Inferred::one(x.dtype, out, x.elements())
    }
}
