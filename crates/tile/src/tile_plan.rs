use crate::{Grid, Span, SpatialOp, TileError};
use serde::{Deserialize, Serialize};

/// What one tile computes at one layer of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerTile {
    /// The part of the layer's input the tile reads, within the true feature map.
    pub input_rows: Span,
    /// The columns of that part (`input_rows` are its rows).
    pub input_cols: Span,
    /// Padding to put around that part before applying the layer: (top, left, bottom, right).
    /// Non-zero only where the part touches the true border of the feature map.
    pub pads: [u64; 4],
    /// The part of the layer's output the tile produces.
    pub output_rows: Span,
    /// The columns of that part (`output_rows` are its rows).
    pub output_cols: Span,
}

/// One tile: its grid position and its regions at every layer of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tile {
    /// Row of the tile in the grid, 0 at the top.
    pub row: usize,
    /// Column of the tile in the grid, 0 at the left.
    pub col: usize,
    /// In run order; `layers[0].input_*` is what must be sent to the tile's node.
    pub layers: Vec<LayerTile>,
}

impl Tile {
    /// The (rows, columns) of the run's input the tile reads, halo included: what must be
    /// sent to its node.
    pub fn input(&self) -> (Span, Span) {
        (self.layers[0].input_rows, self.layers[0].input_cols)
    }
    /// The (rows, columns) of the run's output the tile produces.
    pub fn output(&self) -> (Span, Span) {
        let last = self.layers.last().expect("runs have layers");
        (last.output_rows, last.output_cols)
    }
}

/// The tiles of a run of spatial layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TilePlan {
    /// Feature-map (height, width) at the run's input and after each layer.
    pub sizes: Vec<(u64, u64)>,
    /// How the run's output is cut.
    pub grid: Grid,
    /// Every tile, in the grid's row-major order.
    pub tiles: Vec<Tile>,
}

impl TilePlan {
    /// Output positions computed by all tiles over those of the unsplit run, per layer summed:
    /// the extra work halos cost (1.0 = none).
    pub fn compute_overhead(&self) -> f64 {
        let full: u64 = self.sizes[1..].iter().map(|(h, w)| h * w).sum();
        let tiled: u64 = self
            .tiles
            .iter()
            .flat_map(|t| &t.layers)
            .map(|l| l.output_rows.len() * l.output_cols.len())
            .sum();
        tiled as f64 / full as f64
    }

    /// Input positions sent to all tiles over the input size: the extra bytes halos cost.
    pub fn input_overhead(&self) -> f64 {
        let (h, w) = self.sizes[0];
        let sent: u64 = self
            .tiles
            .iter()
            .map(|t| t.input().0.len() * t.input().1.len())
            .sum();
        sent as f64 / (h * w) as f64
    }
}

/// Plans the tiles of `ops` applied to an input of `input` = (height, width), with the output
/// cut by `grid`.
pub fn plan_tiles(
    ops: &[SpatialOp],
    input: (u64, u64),
    grid: &Grid,
) -> Result<TilePlan, TileError> {
    if ops.is_empty() {
        return Err(TileError::Empty);
    }
    let mut sizes = vec![input];
    for (i, op) in ops.iter().enumerate() {
        let (wh, ww) = op.windows();
        for w in [wh, ww] {
            if w.kernel == 0 || w.stride == 0 || w.dilation == 0 {
                return Err(TileError::Layer {
                    layer: i,
                    msg: "kernel, stride and dilation must be positive".into(),
                });
            }
            if w.pad_begin >= w.extent() || w.pad_end >= w.extent() {
                return Err(TileError::Layer {
                    layer: i,
                    msg: format!(
                        "padding {}/{} not smaller than the window {}",
                        w.pad_begin,
                        w.pad_end,
                        w.extent()
                    ),
                });
            }
        }
        let out = op.output_size(*sizes.last().expect("non-empty"));
        if out.0 == 0 || out.1 == 0 {
            return Err(TileError::Layer {
                layer: i,
                msg: format!("empty output from input {:?}", sizes.last()),
            });
        }
        sizes.push(out);
    }
    let (oh, ow) = *sizes.last().expect("non-empty");
    grid.check(oh, ow)?;
    let mut tiles = Vec::with_capacity(grid.tiles());
    for (r, rows) in Grid::spans(&grid.rows).into_iter().enumerate() {
        for (c, cols) in Grid::spans(&grid.cols).into_iter().enumerate() {
            let mut layers = Vec::with_capacity(ops.len());
            let (mut out_rows, mut out_cols) = (rows, cols);
            for (i, op) in ops.iter().enumerate().rev() {
                let (wh, ww) = op.windows();
                let (in_h, in_w) = sizes[i];
                let (input_rows, top, bottom) = wh.input_for(out_rows, in_h);
                let (input_cols, left, right) = ww.input_for(out_cols, in_w);
                layers.push(LayerTile {
                    input_rows,
                    input_cols,
                    pads: [top, left, bottom, right],
                    output_rows: out_rows,
                    output_cols: out_cols,
                });
                (out_rows, out_cols) = (input_rows, input_cols);
            }
            layers.reverse();
            tiles.push(Tile {
                row: r,
                col: c,
                layers,
            });
        }
    }
    Ok(TilePlan {
        sizes,
        grid: grid.clone(),
        tiles,
    })
}
