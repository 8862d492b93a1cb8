use crate::{Span, TileError};
use serde::{Deserialize, Serialize};

/// How the output map is cut: row heights and column widths (uneven splits balance nodes of
/// different speed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    /// Height of each row of tiles, top to bottom.
    pub rows: Vec<u64>,
    /// Width of each column of tiles, left to right.
    pub cols: Vec<u64>,
}

fn even(size: u64, parts: usize) -> Result<Vec<u64>, TileError> {
    if parts == 0 || parts as u64 > size {
        return Err(TileError::TooManyParts { parts, size });
    }
    let base = size / parts as u64;
    let extra = size % parts as u64;
    Ok((0..parts as u64)
        .map(|i| base + u64::from(i < extra))
        .collect())
}

/// Splits `size` in proportion to `weights` (each part at least 1).
fn weighted(size: u64, weights: &[f64]) -> Result<Vec<u64>, TileError> {
    let parts = weights.len();
    if parts == 0 || parts as u64 > size || weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        return Err(TileError::TooManyParts { parts, size });
    }
    let total: f64 = weights.iter().sum();
    let mut sizes: Vec<u64> = weights
        .iter()
        .map(|w| ((w / total) * size as f64).floor().max(1.0) as u64)
        .collect();
    // Fix rounding: hand out or take back single rows, largest parts first.
    while sizes.iter().sum::<u64>() < size {
        let i = (0..parts)
            .max_by(|&a, &b| {
                (weights[a] / sizes[a] as f64).total_cmp(&(weights[b] / sizes[b] as f64))
            })
            .unwrap();
        sizes[i] += 1;
    }
    while sizes.iter().sum::<u64>() > size {
        let i = (0..parts)
            .filter(|&i| sizes[i] > 1)
            .max_by_key(|&i| sizes[i])
            .unwrap();
        sizes[i] -= 1;
    }
    Ok(sizes)
}

impl Grid {
    /// `rows` x `cols` tiles of near-equal size over a `height` x `width` map; fails when an
    /// axis is asked for no parts or more parts than it has elements.
    pub fn even(height: u64, width: u64, rows: usize, cols: usize) -> Result<Grid, TileError> {
        Ok(Grid {
            rows: even(height, rows)?,
            cols: even(width, cols)?,
        })
    }

    /// Rows sized in proportion to node speeds, one column: a tile per node.
    pub fn weighted_rows(height: u64, width: u64, speeds: &[f64]) -> Result<Grid, TileError> {
        Ok(Grid {
            rows: weighted(height, speeds)?,
            cols: vec![width],
        })
    }

    /// Checks that the grid covers a `height` x `width` map exactly, with no empty row or
    /// column.
    pub fn check(&self, height: u64, width: u64) -> Result<(), TileError> {
        for (sizes, size) in [(&self.rows, height), (&self.cols, width)] {
            if sizes.iter().sum::<u64>() != size || sizes.contains(&0) {
                return Err(TileError::BadSplit {
                    sizes: sizes.clone(),
                    size,
                });
            }
        }
        Ok(())
    }

    /// The ranges of consecutive parts of `sizes`, laid end to end from 0.
    pub fn spans(sizes: &[u64]) -> Vec<Span> {
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let span = Span::new(start, start + s);
                start += s;
                span
            })
            .collect()
    }

    /// Number of tiles: rows times columns.
    pub fn tiles(&self) -> usize {
        self.rows.len() * self.cols.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_and_weighted_splits_cover_the_axis() {
        assert_eq!(Grid::even(13, 13, 3, 2).unwrap().rows, vec![5, 4, 4]);
        let g = Grid::weighted_rows(52, 52, &[1.0, 3.0]).unwrap();
        assert_eq!(g.rows, vec![13, 39]);
        g.check(52, 52).unwrap();
        assert!(Grid::even(2, 2, 3, 1).is_err());
        assert!(Grid {
            rows: vec![2, 2],
            cols: vec![4]
        }
        .check(5, 4)
        .is_err());
    }
}
