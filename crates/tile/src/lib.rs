//! Tiling geometry for vertical separation (D3's VSM, DeepThings' fused tile partitioning).
//!
//! A run of spatial layers (convolutions, pooling, and elementwise layers between them) is cut
//! into an output grid of rows x columns, with uneven splits allowed so faster nodes get bigger
//! tiles. For each tile this crate computes, layer by layer back to the run's input, the region
//! of each feature map the tile needs (its receptive field, the halo included) and the padding
//! each layer must apply to it: zero (or -inf for max pooling) padding only where the region
//! touches the true border of the feature map, real neighbouring data everywhere else. Running
//! every tile with that padding and stitching the outputs reproduces the unsplit output exactly.
//!
//! Any kernel, stride, padding, dilation and ceil mode; pure arithmetic, no engine.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod axis;
mod error;
mod grid;
mod spatial_op;
mod tile_plan;

pub use axis::{AxisWindow, Span};
pub use error::TileError;
pub use grid::Grid;
pub use spatial_op::SpatialOp;
pub use tile_plan::{plan_tiles, LayerTile, Tile, TilePlan};
