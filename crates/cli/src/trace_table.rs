//! The report of runs over one trace: the comparison table and, for the adaptive run, every
//! switch with its timing and its check against the real conditions.

use tiersplit_session::{latency_bins, TraceReport, Won};

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
    print_hedging_gain(reports);
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
            if let Some(t) = s.next_answer_s {
                println!(
                    "           first answer of any frame after it: {:.2} s later",
                    t - s.ready_s
                );
            }
            println!("           now {}", s.placement);
            if let Some(t) = &s.truth {
                println!(
                    "           under the real conditions since {:.1} s: old plan {:.1} ms, new {:.1} ms, best known {:.1} ms",
                    t.phase_s, t.old_ms, t.new_ms, t.best_ms
                );
            }
        }
        print_hedges(r);
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

/// The frames an adaptive run copied onto a newer plan, and which feeding answered first.
fn print_hedges(r: &TraceReport) {
    if r.hedges.is_empty() {
        return;
    }
    let won = |w| r.hedges.iter().filter(|h| h.won == Some(w)).count();
    println!(
        "  hedged {} frame(s) caught on an older plan: the copy answered first {}, the original {}",
        r.hedges.len(),
        won(Won::Copy),
        won(Won::Original)
    );
    for h in &r.hedges {
        let outcome = match (h.won, h.answered_s) {
            (Some(Won::Copy), Some(t)) => {
                format!("the copy answered first, {:.2} s later", t - h.at_s)
            }
            (Some(Won::Original), Some(t)) => {
                format!("the original answered first, {:.2} s later", t - h.at_s)
            }
            _ => "neither answered".into(),
        };
        println!(
            "    {:6.2} s frame {} from {} onto {}: expected {:.0} ms more there, {:.0} ms as a copy; {outcome}{}",
            h.at_s,
            h.frame,
            h.from,
            h.to,
            h.remaining_ms,
            h.copy_ms,
            h.failed
                .as_ref()
                .map_or(String::new(), |f| format!(" (one failed: {f})")),
        );
    }
}

/// With an adaptive run hedged and one not: after each change of conditions, how long the
/// first answer took after each run's first switch.
fn print_hedging_gain(reports: &[TraceReport]) {
    let hedged = reports.iter().find(|r| r.adaptive && r.hedged);
    let unhedged = reports.iter().find(|r| r.adaptive && !r.hedged);
    let (Some(h), Some(u)) = (hedged, unhedged) else {
        return;
    };
    println!();
    println!("hedging: the first answer after the first switch following each change");
    for p in &h.phases {
        let after = |r: &TraceReport| {
            r.switches
                .iter()
                .find(|s| s.seen_s >= p.at_s)
                .and_then(|s| Some((s.ready_s, s.next_answer_s? - s.ready_s)))
        };
        let next = h.phases.iter().map(|q| q.at_s).find(|&t| t > p.at_s);
        let copied = h
            .hedges
            .iter()
            .filter(|c| c.at_s >= p.at_s && next.is_none_or(|n| c.at_s < n))
            .count();
        match (after(h), after(u)) {
            (Some((_, with)), Some((_, without))) => println!(
                "  after {:5.1} s ({}): {:.2} s with hedging ({copied} frame(s) copied), {:.2} s without ({:.2}x sooner)",
                p.at_s,
                p.what,
                with,
                without,
                without / with
            ),
            _ => println!(
                "  after {:5.1} s ({}): no switch in both runs",
                p.at_s, p.what
            ),
        }
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
