//! Stitched tiles equal the unsplit output, on random stacks of convolutions (strided, dilated,
//! padded), max and average pooling (with padding and ceil mode) and elementwise layers, over
//! random uneven grids. A naive reference implementation stands in for the engine; the window
//! sums run in the same order for tiles and whole maps, so equality is exact.

use proptest::prelude::*;
use tiersplit_tile::{plan_tiles, AxisWindow, Grid, SpatialOp};

type Map = Vec<Vec<f64>>;

/// Applies `op` to `input` padded by `pads` (top, left, bottom, right), producing `out` =
/// (rows, cols) outputs. Convolutions pad with zeros; pooling ignores padding.
fn apply(op: &SpatialOp, weights: &[f64], input: &Map, pads: [u64; 4], out: (u64, u64)) -> Map {
    let (h, w) = (
        input.len() as i64,
        input.first().map_or(0, |r| r.len()) as i64,
    );
    let (wh, ww) = op.windows();
    let mut result = vec![vec![0.0; out.1 as usize]; out.0 as usize];
    for (oy, row) in result.iter_mut().enumerate() {
        for (ox, cell) in row.iter_mut().enumerate() {
            let mut acc = match op {
                SpatialOp::MaxPool { .. } => f64::NEG_INFINITY,
                _ => 0.0,
            };
            let mut count = 0.0;
            for ky in 0..wh.kernel {
                for kx in 0..ww.kernel {
                    let y = (oy as u64 * wh.stride + ky * wh.dilation) as i64 - pads[0] as i64;
                    let x = (ox as u64 * ww.stride + kx * ww.dilation) as i64 - pads[1] as i64;
                    let inside = (0..h).contains(&y) && (0..w).contains(&x);
                    let v = if inside {
                        input[y as usize][x as usize]
                    } else {
                        0.0
                    };
                    match op {
                        SpatialOp::Conv { .. } => {
                            acc += weights[(ky * ww.kernel + kx) as usize] * v
                        }
                        SpatialOp::MaxPool { .. } if inside => acc = acc.max(v),
                        SpatialOp::AvgPool { .. } if inside => {
                            acc += v;
                            count += 1.0;
                        }
                        SpatialOp::Elementwise => acc = (v * 0.5 + 1.0).max(0.25),
                        _ => {}
                    }
                }
            }
            *cell = if matches!(op, SpatialOp::AvgPool { .. }) {
                acc / count
            } else {
                acc
            };
        }
    }
    result
}

fn crop(m: &Map, rows: tiersplit_tile::Span, cols: tiersplit_tile::Span) -> Map {
    m[rows.start as usize..rows.end as usize]
        .iter()
        .map(|r| r[cols.start as usize..cols.end as usize].to_vec())
        .collect()
}

fn arb_window() -> impl Strategy<Value = AxisWindow> {
    (1u64..6, 1u64..4, 1u64..3, 0u64..3, 0u64..3).prop_map(|(kernel, stride, dilation, pb, pe)| {
        let extent = (kernel - 1) * dilation + 1;
        AxisWindow {
            kernel,
            stride,
            dilation,
            pad_begin: pb.min(extent - 1),
            pad_end: pe.min(extent - 1),
        }
    })
}

fn arb_op() -> impl Strategy<Value = SpatialOp> {
    prop_oneof![
        (arb_window(), arb_window()).prop_map(|(h, w)| SpatialOp::Conv { h, w }),
        (arb_window(), arb_window(), any::<bool>()).prop_map(|(h, w, ceil)| SpatialOp::MaxPool {
            h,
            w,
            ceil
        }),
        (arb_window(), arb_window(), any::<bool>()).prop_map(|(h, w, ceil)| SpatialOp::AvgPool {
            h,
            w,
            ceil
        }),
        Just(SpatialOp::Elementwise),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn stitched_tiles_equal_unsplit(
        ops in prop::collection::vec(arb_op(), 1..5),
        h in 8u64..40, w in 8u64..40,
        rows in 1usize..4, cols in 1usize..4,
        uneven in prop::collection::vec(1.0f64..4.0, 3),
        seed in any::<u64>(),
    ) {
        // Keep stacks whose output is at least as large as the grid.
        let mut size = (h, w);
        for op in &ops {
            size = op.output_size(size);
            prop_assume!(size.0 > 0 && size.1 > 0);
        }
        prop_assume!(size.0 >= rows as u64 && size.1 >= cols as u64);
        let grid = if rows > 1 && uneven[0] > 2.0 {
            Grid { rows: Grid::weighted_rows(size.0, size.1, &uneven[..rows]).unwrap().rows, cols: Grid::even(size.0, size.1, 1, cols).unwrap().cols }
        } else {
            Grid::even(size.0, size.1, rows, cols).unwrap()
        };
        let plan = plan_tiles(&ops, (h, w), &grid).unwrap();

        let mut state = seed | 1;
        let mut next = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; (state % 2000) as f64 / 1000.0 - 1.0 };
        let input: Map = (0..h).map(|_| (0..w).map(|_| next()).collect()).collect();
        let weights: Vec<Vec<f64>> = ops.iter().map(|op| { let (a, b) = op.windows(); (0..a.kernel * b.kernel).map(|_| next()).collect() }).collect();

        // Unsplit: every layer with its own padding.
        let mut full = input.clone();
        for (i, op) in ops.iter().enumerate() {
            let (a, b) = op.windows();
            full = apply(op, &weights[i], &full, [a.pad_begin, b.pad_begin, a.pad_end, b.pad_end], plan.sizes[i + 1]);
        }
        // Tiled: each tile from its input region with border-aware padding, then stitched.
        let mut stitched: Map = vec![vec![f64::NAN; size.1 as usize]; size.0 as usize];
        let mut written = vec![vec![false; size.1 as usize]; size.0 as usize];
        for tile in &plan.tiles {
            let (r, c) = tile.input();
            let mut x = crop(&input, r, c);
            for (i, (op, lt)) in ops.iter().zip(&tile.layers).enumerate() {
                // The tile's layer is an ordinary (floor-mode) layer with the tile's padding: its
                // output size must come out as the planned region.
                let (a, b) = op.windows();
                let oh = AxisWindow { pad_begin: lt.pads[0], pad_end: lt.pads[2], ..a }.output_len(x.len() as u64, false);
                let ow = AxisWindow { pad_begin: lt.pads[1], pad_end: lt.pads[3], ..b }.output_len(x[0].len() as u64, false);
                prop_assert_eq!((oh, ow), (lt.output_rows.len(), lt.output_cols.len()));
                x = apply(op, &weights[i], &x, lt.pads, (oh, ow));
            }
            let (r, c) = tile.output();
            for (yy, row) in x.iter().enumerate() {
                for (xx, v) in row.iter().enumerate() {
                    let (y, x) = (r.start as usize + yy, c.start as usize + xx);
                    prop_assert!(!written[y][x], "tiles overlap at output ({}, {})", y, x);
                    written[y][x] = true;
                    stitched[y][x] = *v;
                }
            }
        }
        prop_assert!(written.iter().flatten().all(|&w| w), "tiles leave gaps");
        // Bit-for-bit, so that a window falling entirely in padding (NaN or -inf in both runs,
        // possible with dilated pooling) compares equal too.
        let bits = |m: &Map| m.iter().map(|r| r.iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&stitched), bits(&full));
        // Halos cost extra work, but strides larger than their window skip rows no tile needs,
        // so the ratio can fall below 1; it is only reported.
        prop_assert!(plan.compute_overhead() > 0.0);
    }
}

#[test]
fn halo_overhead_grows_with_depth_and_grid() {
    let conv3 = SpatialOp::Conv {
        h: AxisWindow {
            kernel: 3,
            stride: 1,
            dilation: 1,
            pad_begin: 1,
            pad_end: 1,
        },
        w: AxisWindow {
            kernel: 3,
            stride: 1,
            dilation: 1,
            pad_begin: 1,
            pad_end: 1,
        },
    };
    let one = plan_tiles(&[conv3; 2], (64, 64), &Grid::even(64, 64, 2, 2).unwrap()).unwrap();
    let deep = plan_tiles(&[conv3; 8], (64, 64), &Grid::even(64, 64, 2, 2).unwrap()).unwrap();
    let fine = plan_tiles(&[conv3; 8], (64, 64), &Grid::even(64, 64, 4, 4).unwrap()).unwrap();
    assert!(one.compute_overhead() < deep.compute_overhead());
    assert!(deep.compute_overhead() < fine.compute_overhead());
    // Two 3x3 layers on a 2x2 grid: each tile reads a 2-pixel halo on its inner sides.
    assert_eq!(
        one.tiles[0].input(),
        (
            tiersplit_tile::Span::new(0, 34),
            tiersplit_tile::Span::new(0, 34)
        )
    );
    assert_eq!(one.tiles[0].layers[0].pads, [1, 1, 0, 0]);
    assert_eq!(one.tiles[3].layers[0].pads, [0, 0, 1, 1]);
}
