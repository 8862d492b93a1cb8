/// The middle value of a set of timings (upper middle for an even count; NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The value at quantile `q` (0 to 1) of sorted values, nearest rank (NaN when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The median of the quietest block: each block's median, then the smallest of them. On a
/// shared machine a neighbour's burst slows whole blocks of runs; what it cannot do is make a
/// block faster than the machine is, so the smallest block median is the steadiest estimate
/// of the machine's own speed (NaN when there is no block).
pub fn quietest_median(blocks: Vec<Vec<f64>>) -> f64 {
    blocks
        .into_iter()
        .map(median)
        .filter(|m| !m.is_nan())
        .min_by(f64::total_cmp)
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quietest_block_decides() {
        let noisy = vec![9.0, 10.0, 30.0];
        let quiet = vec![5.0, 6.0, 7.0];
        assert_eq!(quietest_median(vec![noisy, quiet, vec![]]), 6.0);
        assert!(quietest_median(vec![]).is_nan());
    }
}
