//! The papers' figures in their style, as SVG (plotters): a figure against the uplink's rate,
//! one line per planner as the cost model predicts it, and the points measured on the cluster.

use crate::latency_plot::{legend_and_present, PALETTE};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// One planner's figure against the uplink's rate (Mbit/s): predicted along a sweep, and
/// measured at a few rates.
pub struct Series {
    /// The planner.
    pub label: String,
    /// (rate, figure) predicted.
    pub predicted: Vec<(f64, f64)>,
    /// (rate, figure) measured.
    pub measured: Vec<(f64, f64)>,
}

/// The range of every figure in `series` (both axes), or None without points.
fn bounds(series: &[Series]) -> Option<((f64, f64), (f64, f64))> {
    let all = series
        .iter()
        .flat_map(|s| s.predicted.iter().chain(&s.measured))
        .filter(|p| p.0 > 0.0 && p.1 > 0.0 && p.1.is_finite());
    let grow = |(lo, hi): (f64, f64), v: f64| (lo.min(v), hi.max(v));
    let inf = (f64::INFINITY, 0.0);
    let (x, y) = all.fold((inf, inf), |(x, y), p| (grow(x, p.0), grow(y, p.1)));
    (x.0.is_finite() && y.0.is_finite()).then_some((x, y))
}

/// Draws `series` into `path`: the rate on a log x axis, the figure (`y_desc`) on a log y axis;
/// lines predicted, filled circles measured.
pub fn draw(path: &Path, title: &str, y_desc: &str, series: &[Series]) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    let ((x_lo, x_hi), (y_lo, y_hi)) = bounds(series).ok_or_else(|| anyhow!("nothing to draw"))?;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x_lo * 0.9..x_hi * 1.1).log_scale(),
            (y_lo * 0.8..y_hi * 1.25).log_scale(),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("uplink (Mbit/s, log scale)")
        .y_desc(y_desc)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // Later lines dashed-looking by width, so planners that tie stay visible.
        let style = ShapeStyle::from(&color).stroke_width(1 + 2 * (i % 2) as u32);
        chart
            .draw_series(LineSeries::new(s.predicted.clone(), style))
            .map_err(|e| err(&e))?
            .label(format!("{} (predicted; dots measured)", s.label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        let dot = ShapeStyle::from(&color).filled();
        chart
            .draw_series(s.measured.iter().map(|&p| Circle::new(p, 4, dot)))
            .map_err(|e| err(&e))?;
    }
    legend_and_present(&mut chart, &root, path)
}
