//! The papers' figures in their style, as SVG (plotters): a figure against the uplink's rate,
//! one line per planner as the cost model predicts it, and the points measured on the cluster.

use crate::latency_plot::{legend_and_present, PALETTE};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

/// One planner's figure against the uplink's rate (Mbit/s): predicted along a sweep, and
/// measured at a few rates.
pub struct Series {
    /// The legend's words for it.
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
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        let dot = ShapeStyle::from(&color).filled();
        chart
            .draw_series(s.measured.iter().map(|&p| Circle::new(p, 4, dot)))
            .map_err(|e| err(&e))?;
    }
    legend_and_present(&mut chart, &root, path)
}

/// One planner's figure for each category of a bar chart: predicted, and measured where it
/// was.
pub struct Bars {
    /// The legend's words for it.
    pub label: String,
    /// Per category, predicted.
    pub predicted: Vec<f64>,
    /// Per category, measured.
    pub measured: Vec<Option<f64>>,
}

/// Draws grouped bars into `path`: one group per category (named below the axis), one bar per
/// series predicted, a dot on it where measured; the figure (`y_desc`) on a linear y axis.
pub fn draw_bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    categories: &[String],
    series: &[Bars],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    let top = series
        .iter()
        .flat_map(|s| {
            s.predicted
                .iter()
                .copied()
                .chain(s.measured.iter().flatten().copied())
        })
        .fold(0.0, f64::max);
    if categories.is_empty() {
        return Err(anyhow!("nothing to draw"));
    }
    // All zero (nothing crosses anywhere) still draws, on a unit axis.
    let top = if top > 0.0 { top } else { 1.0 };
    let root = SVGBackend::new(path, (1100, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let n = categories.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..n, 0.0..top * 1.3)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc)
        .draw()
        .map_err(|e| err(&e))?;
    let width = 0.8 / series.len() as f64;
    for (k, s) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let left = |i: usize| i as f64 + 0.1 + k as f64 * width;
        let bars =
            s.predicted.iter().enumerate().map(|(i, &v)| {
                Rectangle::new([(left(i), 0.0), (left(i) + width, v)], color.filled())
            });
        chart
            .draw_series(bars)
            .map_err(|e| err(&e))?
            .label(s.label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        let dots = s.measured.iter().enumerate().filter_map(|(i, v)| {
            let at = (left(i) + width / 2.0, (*v)?);
            Some(Circle::new(at, 4, BLACK.filled()))
        });
        chart.draw_series(dots).map_err(|e| err(&e))?;
    }
    // Category names under their groups, in the label area.
    for (i, name) in categories.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        let style = ("sans-serif", 12).into_font().color(&BLACK);
        let style = style.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
        for (line, text) in name.split('\n').enumerate() {
            root.draw(&Text::new(
                text.to_string(),
                (x, y + 6 + 14 * line as i32),
                style.clone(),
            ))
            .map_err(|e| err(&e))?;
        }
    }
    legend_and_present(&mut chart, &root, path)
}
