use serde::{Deserialize, Serialize};

/// A half-open range `[start, end)` of rows or columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// First index in the range.
    pub start: u64,
    /// One past the last index.
    pub end: u64,
}

impl Span {
    /// The range `[start, end)`; `start` must not exceed `end`.
    pub fn new(start: u64, end: u64) -> Span {
        debug_assert!(start <= end);
        Span { start, end }
    }
    /// Number of indices in the range.
    pub fn len(self) -> u64 {
        self.end - self.start
    }
    /// Whether the range holds no index.
    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
}

/// A sliding window along one axis: kernel size, stride, dilation and the padding before and
/// after the true input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxisWindow {
    /// Window size in taps.
    pub kernel: u64,
    /// Step between the starts of two consecutive windows.
    pub stride: u64,
    /// Spacing between taps (1 = contiguous).
    pub dilation: u64,
    /// Padding before the true input (top or left).
    pub pad_begin: u64,
    /// Padding after the true input (bottom or right).
    pub pad_end: u64,
}

impl AxisWindow {
    /// Identity mapping (elementwise layers).
    pub const IDENTITY: AxisWindow = AxisWindow {
        kernel: 1,
        stride: 1,
        dilation: 1,
        pad_begin: 0,
        pad_end: 0,
    };

    /// Extent of one window in input elements.
    pub fn extent(&self) -> u64 {
        (self.kernel - 1) * self.dilation + 1
    }

    /// Output length for an input of `input` elements (floor mode, or ceil mode where the last
    /// window must start inside the input or its leading padding, as PyTorch and ONNX Runtime).
    pub fn output_len(&self, input: u64, ceil: bool) -> u64 {
        let span = input + self.pad_begin + self.pad_end;
        let e = self.extent();
        if span < e {
            return 0;
        }
        if ceil {
            let o = (span - e).div_ceil(self.stride) + 1;
            if (o - 1) * self.stride >= input + self.pad_begin {
                o - 1
            } else {
                o
            }
        } else {
            (span - e) / self.stride + 1
        }
    }

    /// The input a range of outputs reads, clamped to the true input `[0, input)`, and the
    /// padding to apply before and after it so the same windows are computed: the padding is
    /// non-zero only where the windows reach past the true border.
    pub fn input_for(&self, out: Span, input: u64) -> (Span, u64, u64) {
        if out.is_empty() {
            return (Span::new(0, 0), 0, 0);
        }
        // Window k covers padded positions [k*s, k*s + extent), i.e. true positions shifted by
        // pad_begin.
        let first = (out.start * self.stride) as i64 - self.pad_begin as i64;
        let last = ((out.end - 1) * self.stride + self.extent()) as i64 - self.pad_begin as i64;
        let start = first.max(0) as u64;
        let end = (last.max(0) as u64).min(input);
        let pad_begin = (-first).max(0) as u64;
        let pad_end = (last - input as i64).max(0) as u64;
        (Span::new(start.min(end), end), pad_begin, pad_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halo_and_border_padding() {
        // 3x3 conv, stride 1, pad 1 on 10 rows: rows 0..5 read 0..6 with top padding 1.
        let w = AxisWindow {
            kernel: 3,
            stride: 1,
            dilation: 1,
            pad_begin: 1,
            pad_end: 1,
        };
        assert_eq!(w.input_for(Span::new(0, 5), 10), (Span::new(0, 6), 1, 0));
        assert_eq!(w.input_for(Span::new(5, 10), 10), (Span::new(4, 10), 0, 1));
        // Stride 2, dilation 2 (extent 5), pad 2 on 11 rows -> 6 outputs.
        let w = AxisWindow {
            kernel: 3,
            stride: 2,
            dilation: 2,
            pad_begin: 2,
            pad_end: 2,
        };
        assert_eq!(w.output_len(11, false), 6);
        assert_eq!(w.input_for(Span::new(2, 4), 11), (Span::new(2, 9), 0, 0));
        assert_eq!(w.input_for(Span::new(5, 6), 11), (Span::new(8, 11), 0, 2));
    }
}
