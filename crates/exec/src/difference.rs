use crate::HostTensor;
use std::fmt;

/// How far a result is from a reference, over all elements of all outputs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Difference {
    /// Largest |a - b|.
    pub max_abs: f64,
    /// Largest |a - b| divided by the largest finite |reference| of the same output:
    /// scale-free, and not blown up by reference values near zero.
    pub max_rel: f64,
    /// Elements compared.
    pub elements: usize,
}

impl Difference {
    /// Largest relative difference ([`Difference::max_rel`]) accepted between a split run and
    /// the unsplit model. Splitting changes only how the engine fuses and orders float
    /// operations (reassociation); see `docs/exactness.md` for the bound and measured values.
    pub const TOLERANCE: f64 = 1e-4;

    /// Largest relative difference accepted between two engines running the same model (tract
    /// against ONNX Runtime's answer, in the corpus check). They pick different kernels and
    /// accumulation orders, and approximate activations differently: ONNX Runtime against
    /// itself, with and without its graph optimisations, differs by up to 2.6e-4 on the
    /// corpus's PaddleOCR text detectors. See `docs/exactness.md`.
    pub const ENGINE_TOLERANCE: f64 = 1e-3;

    /// Whether [`Difference::max_rel`] is at most [`Difference::TOLERANCE`], i.e. the split run
    /// agrees with the reference.
    pub fn within_tolerance(&self) -> bool {
        self.max_rel <= Self::TOLERANCE
    }

    /// Compares outputs pairwise; a shape mismatch is an infinite difference.
    pub fn between(results: &[HostTensor], reference: &[HostTensor]) -> Difference {
        let mut d = Difference::default();
        if results.len() != reference.len() {
            return Difference {
                max_abs: f64::INFINITY,
                max_rel: f64::INFINITY,
                elements: 0,
            };
        }
        for (a, b) in results.iter().zip(reference) {
            if a.shape != b.shape {
                return Difference {
                    max_abs: f64::INFINITY,
                    max_rel: f64::INFINITY,
                    elements: d.elements,
                };
            }
            let (a, b) = (a.to_f32(), b.to_f32());
            let scale = b
                .iter()
                .filter(|x| x.is_finite())
                .fold(0f64, |m, &x| m.max((x as f64).abs()))
                .max(f64::MIN_POSITIVE);
            for (&x, &y) in a.iter().zip(&b) {
                // The same NaN or infinity on both sides (a square root of a negative, an
                // overflow) is agreement; NaN against a number is the largest disagreement.
                let same_special = (x.is_nan() && y.is_nan()) || (x.is_infinite() && x == y);
                let diff = if same_special {
                    0.0
                } else if x.is_nan() || y.is_nan() {
                    f64::INFINITY
                } else {
                    (x as f64 - y as f64).abs()
                };
                d.max_abs = d.max_abs.max(diff);
                d.max_rel = d.max_rel.max(diff / scale);
            }
            d.elements += a.len();
        }
        d
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max abs diff {:.3e}, max rel diff {:.3e} over {} values",
            self.max_abs, self.max_rel, self.elements
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_to_output_scale() {
        let r = HostTensor::f32(vec![3], vec![10.0, -20.0, 0.0]).unwrap();
        let a = HostTensor::f32(vec![3], vec![10.0, -19.0, 0.5]).unwrap();
        let d = Difference::between(&[a], std::slice::from_ref(&r));
        assert_eq!(d.max_abs, 1.0);
        assert_eq!(d.max_rel, 0.05);
        let wrong = HostTensor::f32(vec![1, 3], vec![10.0, -20.0, 0.0]).unwrap();
        assert!(Difference::between(&[wrong], &[r]).max_abs.is_infinite());
    }

    #[test]
    fn the_same_nan_or_infinity_agrees_and_does_not_hide_the_rest() {
        let (nan, inf) = (f32::NAN, f32::INFINITY);
        let r = HostTensor::f32(vec![4], vec![nan, inf, 2.0, -inf]).unwrap();
        let same = HostTensor::f32(vec![4], vec![nan, inf, 2.0, -inf]).unwrap();
        assert_eq!(
            Difference::between(&[same], std::slice::from_ref(&r)).max_rel,
            0.0
        );
        let off = HostTensor::f32(vec![4], vec![nan, inf, 1.0, -inf]).unwrap();
        assert_eq!(
            Difference::between(&[off], std::slice::from_ref(&r)).max_rel,
            0.5
        );
        for bad in [vec![1.0, inf, 2.0, -inf], vec![nan, -inf, 2.0, -inf]] {
            let bad = HostTensor::f32(vec![4], bad).unwrap();
            assert!(!Difference::between(&[bad], std::slice::from_ref(&r)).within_tolerance());
        }
    }
}
