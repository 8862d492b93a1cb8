//! Latency against time for runs over one trace, as SVG (plotters): the adaptive run and the
//! static plans overlaid, the trace's changes and the plan switches as vertical lines.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;
use tiersplit_session::TraceReport;

/// Line colours, in order (the static plans here; the planners in `paper_plot`).
pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Draws every run's per-frame latency (at the time each frame was answered) into `path`.
pub fn draw(path: &Path, title: &str, runs: &[TraceReport], duration_s: f64) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    let lat = runs
        .iter()
        .flat_map(|r| r.frames.iter().map(|f| f.latency_ms));
    let (lo, hi) = lat.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if !(lo.is_finite() && hi > 0.0) {
        return Err(anyhow!("no answered frames to draw"));
    }
    let (lo, hi) = (lo.max(0.1) * 0.8, hi * 1.25);
    let root = SVGBackend::new(path, (1100, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..duration_s * 1.02, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("time since the start of the trace (s)")
        .y_desc("frame latency (ms, log scale)")
        .draw()
        .map_err(|e| err(&e))?;
    let vline = |x: f64, style: ShapeStyle| PathElement::new(vec![(x, lo), (x, hi)], style);
    if let Some(r) = runs.first() {
        let grey = ShapeStyle::from(&BLACK.mix(0.35)).stroke_width(1);
        chart
            .draw_series(r.phases.iter().map(|p| vline(p.at_s, grey)))
            .map_err(|e| err(&e))?
            .label("trace change")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
    }
    let mut statics = 0;
    for r in runs {
        let (color, width) = if r.adaptive {
            (RED, 3)
        } else {
            statics += 1;
            (PALETTE[(statics - 1) % PALETTE.len()], 1)
        };
        let style = ShapeStyle::from(&color).stroke_width(width);
        let points: Vec<(f64, f64)> = r.frames.iter().map(|f| (f.done_s, f.latency_ms)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(|e| err(&e))?
            .label(format!("{} (mean {:.0} ms)", r.label, r.mean_ms))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 2, ShapeStyle::from(&color).filled())),
            )
            .map_err(|e| err(&e))?;
        if r.adaptive {
            let dashed = ShapeStyle::from(&RED.mix(0.5)).stroke_width(1);
            chart
                .draw_series(r.switches.iter().map(|s| vline(s.ready_s, dashed)))
                .map_err(|e| err(&e))?
                .label("plan switch (adaptive)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], dashed));
        }
    }
    legend_and_present(&mut chart, &root, path)
}

/// Draws `chart`'s legend (top right) and writes `root` to `path`.
pub(crate) fn legend_and_present<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    path: &Path,
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
