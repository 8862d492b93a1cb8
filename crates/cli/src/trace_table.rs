//! The report of runs over one trace: the comparison table and, for the adaptive run, every
//! switch with its timing and its check against the real conditions.

use tiersplit_session::{latency_bins, TraceReport};

/// Mean latency of the frames answered in each `bin_s` seconds, per strategy: the latency over
/// time in the terminal (the plot and the JSON have every frame).
fn print_timeline(reports: &[TraceReport], bin_s: f64) {
    println!();
    println!("mean latency (ms) of the frames answered in each {bin_s:.0} s:");
    print!("{:>9}", "t (s)");
    for r in reports {
        print!(" {:>14}", r.label.chars().take(14).collect::<String>());
    }
    println!();
    for (from, to, means) in latency_bins(reports, bin_s) {
        print!("{:>4.0}-{:<4.0}", from, to);
        for mean in means {
            match mean {
                Some(m) => print!(" {m:>14.0}"),
                None => print!(" {:>14}", "-"),
            }
        }
        println!();
    }
}

pub fn print_trace_reports(reports: &[TraceReport]) {
    if let Some(r) = reports.first() {
        for p in &r.phases {
            println!("  at {:5.1} s: {}", p.at_s, p.what);
        }
    }
    print_timeline(reports, 2.0);
    let adaptive = reports
        .iter()
        .find(|r| r.adaptive)
        .map(|r| (r.mean_ms, r.time_mean_ms));
    println!();
    println!("time ms: mean latency over time (each frame weighted by how long it took)");
    println!(
        "{:<28} {:>6} {:>6} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6}  vs adaptive (mean, over time)",
        "strategy",
        "fed",
        "answ",
        "dropped",
        "mean ms",
        "time ms",
        "p50 ms",
        "p95 ms",
        "switches",
        "exact",
    );
    for r in reports {
        println!(
            "{:<28} {:>6} {:>6} {:>7} {:>9.1} {:>9.1} {:>8.1} {:>8.1} {:>8} {:>6}  {}",
            r.label,
            r.fed,
            r.frames.len(),
            r.dropped,
            r.mean_ms,
            r.time_mean_ms,
            r.p50_ms,
            r.p95_ms,
            r.switches.len(),
            if r.all_exact && r.failures.is_empty() {
                "PASS"
            } else {
                "FAIL"
            },
            match adaptive {
                Some((m, t)) if !r.adaptive => {
                    format!("{:.2}x, {:.2}x", r.mean_ms / m, r.time_mean_ms / t)
                }
                _ => "-".into(),
            }
        );
    }
    print_faults(reports);
    for r in reports.iter().filter(|r| r.adaptive) {
        println!();
        println!(
            "{}: {} re-plans, {} probes, {} switch(es){}",
            r.label,
            r.replans,
            r.probes,
            r.switches.len(),
            if r.overloaded > 0 {
                format!(
                    "; {} re-plan(s) found no plan keeping up with the frame rate",
                    r.overloaded
                )
            } else {
                String::new()
            }
        );
        for s in &r.switches {
            // The trace change this switch answers: the last one before it was seen.
            let change = r.change_before(s.seen_s);
            println!(
                "  {:6.2} s {} -> {} ({:?}): {}; predicted {:.1} -> {:.1} ms; seen {:.2} s, decided {:.2} s, first frame {} answered {}{}",
                s.ready_s,
                s.from,
                s.to,
                s.mode,
                s.trigger,
                s.predicted_old_ms,
                s.predicted_new_ms,
                s.seen_s,
                s.decided_s,
                s.first_frame,
                s.first_answer_s
                    .map_or("never".into(), |t| format!("at {t:.2} s")),
                change.map_or(String::new(), |c| format!(
                    "; {:.2} s after the change at {c:.1} s",
                    s.ready_s - c
                )),
            );
            println!("           now {}", s.placement);
            if let Some(t) = &s.truth {
                println!(
                    "           under the real conditions since {:.1} s: old plan {:.1} ms, new {:.1} ms, best known {:.1} ms",
                    t.phase_s, t.old_ms, t.new_ms, t.best_ms
                );
            }
        }
        println!(
            "  estimated at the end: {}",
            r.link_mbps
                .iter()
                .map(|(k, v)| format!("{k} {v:.1} Mbit/s"))
                .chain(
                    r.link_delay_ms
                        .iter()
                        .map(|(k, v)| format!("{k} {v:.1} ms"))
                )
                .chain(r.node_slowdown.iter().map(|(k, v)| format!("{k} x{v:.2}")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Every fault of each run, with what it cost.
fn print_faults(reports: &[TraceReport]) {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    for r in reports.iter().filter(|r| !r.faults.is_empty()) {
        println!();
        println!(
            "{}: faults (seen: fault to the heartbeats' verdict; recovered: verdict to the first answer without the node; back: fault to re-admission)",
            r.label
        );
        println!(
            "  {:>7} {:<8} {:<8} {:>8} {:>12} {:>8} {:>9} {:>9} {:>6} {:>8} {:>10} {:>14}",
            "at s",
            "fault",
            "node",
            "seen ms",
            "recovered ms",
            "plan ms",
            "deploy ms",
            "fed again",
            "failed",
            "back ms",
            "before ms",
            "worst after ms",
        );
        for f in &r.fault_figures {
            println!(
                "  {:>7.2} {:<8} {:<8} {:>8} {:>12} {:>8} {:>9} {:>9} {:>6} {:>8} {:>10.1} {:>14.1}",
                f.at_s,
                f.fault.name(),
                f.node,
                ms(f.detected_ms),
                ms(f.recovered_ms),
                ms(f.planning_ms),
                ms(f.deploying_ms),
                f.reissued,
                f.failed,
                ms(f.readmitted_ms),
                f.before_ms,
                f.worst_after_ms
            );
        }
        for o in &r.failovers {
            let lost = o
                .lost
                .iter()
                .map(|(n, why)| format!("{n} ({why})"))
                .collect::<Vec<_>>()
                .join(", ");
            match o.kept {
                true => println!(
                    "  cut at {:.2} s: {lost}; kept {} (it crosses none)",
                    o.down_s, o.placement
                ),
                false => println!(
                    "  fail-over at {:.2} s: lost {lost}; now {}",
                    o.down_s, o.placement
                ),
            }
        }
    }
}
