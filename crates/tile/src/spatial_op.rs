use crate::AxisWindow;
use serde::{Deserialize, Serialize};

/// A layer of a tiled run, as far as geometry is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpatialOp {
    /// Convolution (any groups: channels do not matter for geometry). Pads with zeros.
    Conv {
        /// Window along the height.
        h: AxisWindow,
        /// Window along the width.
        w: AxisWindow,
    },
    /// Max pooling: padding never wins the max.
    MaxPool {
        /// Window along the height.
        h: AxisWindow,
        /// Window along the width.
        w: AxisWindow,
        /// Output size in ceil mode (ONNX `ceil_mode = 1`), see [`AxisWindow::output_len`].
        ceil: bool,
    },
    /// Average pooling that excludes padding from the count (ONNX `count_include_pad = 0`).
    AvgPool {
        /// Window along the height.
        h: AxisWindow,
        /// Window along the width.
        w: AxisWindow,
        /// Output size in ceil mode (ONNX `ceil_mode = 1`), see [`AxisWindow::output_len`].
        ceil: bool,
    },
    /// BatchNormalization, activations, and other per-element layers: output pixel = input pixel.
    Elementwise,
}

impl SpatialOp {
    /// The (height, width) windows; the identity for elementwise layers.
    pub fn windows(&self) -> (AxisWindow, AxisWindow) {
        match *self {
            SpatialOp::Conv { h, w }
            | SpatialOp::MaxPool { h, w, .. }
            | SpatialOp::AvgPool { h, w, .. } => (h, w),
            SpatialOp::Elementwise => (AxisWindow::IDENTITY, AxisWindow::IDENTITY),
        }
    }

    /// Whether output sizes are computed in ceil mode (pooling with `ceil`).
    pub fn ceil(&self) -> bool {
        matches!(
            *self,
            SpatialOp::MaxPool { ceil: true, .. } | SpatialOp::AvgPool { ceil: true, .. }
        )
    }

    /// Output (height, width) for an input of (height, width).
    pub fn output_size(&self, (h, w): (u64, u64)) -> (u64, u64) {
        let (wh, ww) = self.windows();
        (wh.output_len(h, self.ceil()), ww.output_len(w, self.ceil()))
    }
}
