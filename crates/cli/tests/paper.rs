//! `tiersplit bench paper`, bounded: each paper's figures printed beside ours, predicted and
//! measured on a local cluster of worker processes, every measured answer exact (the command
//! fails otherwise).

mod common;

use common::{stderr, stdout, tiersplit};

/// The table rows of `model` in the printed plans table.
fn rows<'a>(text: &'a str, model: &str) -> Vec<&'a str> {
    let start = format!("| {model} |");
    text.lines().filter(|l| l.starts_with(&start)).collect()
}

#[test]
fn the_dads_experiment_is_measured_and_min_cut_beats_the_chain_on_two_towers() {
    let plots = tempfile::tempdir().unwrap();
    let out = tiersplit(&[
        "bench",
        "paper",
        "dads",
        "--models",
        "nin,resnet18",
        "--uplinks",
        "wifi",
        "--frames",
        "2",
        "--run-s",
        "1",
        "--no-sweeps",
        "--plots",
        plots.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for model in ["nin", "resnet18"] {
        let rows = rows(&text, model);
        assert_eq!(
            rows.len(),
            2,
            "a light and a heavy row for {model}:\n{text}"
        );
        for row in rows {
            assert!(!row.contains("/ - |"), "every plan measured: {row}");
        }
    }
    for figure in ["| Fig. 12 |", "| Fig. 13 |", "| Fig. 14 |", "| Fig. 15 |"] {
        assert!(text.contains(figure), "{figure} missing:\n{text}");
    }
    // The two-tower AlexNet on the slow-device scenario: DSL cuts through both towers, which
    // no prefix of the tower-by-tower order does.
    let line = text
        .lines()
        .find(|l| l.starts_with("DSL's latency over Neurosurgeon's"))
        .expect("the two-tower comparison");
    let predicted: f64 = line
        .split("predicted ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect("a predicted ratio");
    assert!(predicted < 0.95, "{line}");
    assert!(!line.ends_with("measured -"), "{line}");
    for figure in ["latency", "throughput", "switch"] {
        let svg = std::fs::read_to_string(plots.path().join(format!("paper-dads-{figure}.svg")));
        let svg = svg.unwrap_or_else(|e| panic!("{figure}: {e}"));
        assert!(svg.starts_with("<svg") && svg.contains("DADS"), "{figure}");
    }
}

#[test]
fn the_d3_and_decc_experiments_print_every_figure() {
    let plots = tempfile::tempdir().unwrap();
    let out = tiersplit(&[
        "bench",
        "paper",
        "d3",
        "--models",
        "alexnet,resnet18",
        "--predict-only",
        "--plots",
        plots.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let svg = std::fs::read_to_string(plots.path().join("paper-d3-backbone.svg")).unwrap();
    assert!(
        svg.contains("resnet18") && svg.contains("d3-4edge"),
        "{svg}"
    );
    assert_eq!(
        rows(&text, "alexnet").len(),
        3,
        "one row per scenario:\n{text}"
    );
    assert!(
        text.contains("up to 3.4x") && text.contains("up to 3.68x"),
        "{text}"
    );

    let out = tiersplit(&[
        "bench", "paper", "decc", "--models", "resnet18", "--frames", "2", "--run-s", "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rows = rows(&text, "resnet18");
    assert_eq!(rows.len(), 2, "one row per scenario:\n{text}");
    for row in rows {
        assert!(!row.contains("/ - |"), "every plan measured: {row}");
    }
    assert!(text.contains("DECC: latency speed-up"), "{text}");
}

#[test]
fn a_v100_cloud_is_predicted_from_its_published_times() {
    let out = tiersplit(&[
        "bench",
        "paper",
        "dads",
        "--cloud",
        "v100",
        "--models",
        "resnet18",
        "--uplinks",
        "wifi",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("cloud 1.95 ms (ncnn table, Tesla V100)"),
        "{text}"
    );
    assert!(text.contains("Predicted only"), "{text}");
    for row in rows(&text, "resnet18") {
        assert!(row.contains("/ - |"), "nothing measured: {row}");
    }
}
