//! Scenario and trace files under crafted edits: the shipped files with bytes flipped, cut or
//! replaced by digits and signs (numbers are where parsers overflow). Every file parses or is
//! refused with an error naming the field; none panics. CI runs a bounded number of cases;
//! `TIERSPLIT_FUZZ_CASES=1000000` runs the long soak.

use proptest::prelude::*;
use tiersplit_adapt::Trace;
use tiersplit_cost::Scenario;

const SCENARIO: &str = include_str!("../../../scenarios/local-cluster.toml");
const TRACES: [&str; 2] = [
    include_str!("../../../traces/wifi-3g-4g.toml"),
    include_str!("../../../traces/edge-overload.toml"),
];

fn cases() -> u32 {
    std::env::var("TIERSPLIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// `text` with bytes replaced (by characters that matter in TOML numbers and tables) and cut.
fn mutate(text: &str, edits: &[(prop::sample::Index, u8)], cut: prop::sample::Index) -> String {
    const ALPHABET: &[u8] = b"0123456789-+.eE_[]=\"\n #infa";
    let mut bytes = text.as_bytes().to_vec();
    for (at, c) in edits {
        let i = at.index(bytes.len());
        bytes[i] = ALPHABET[*c as usize % ALPHABET.len()];
    }
    bytes.truncate(cut.index(bytes.len() + 1));
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn edited_scenarios_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        if let Ok(s) = Scenario::from_toml(&mutate(SCENARIO, &edits, cut)) {
            let _ = s.fastest_speed();
        }
    }

    #[test]
    fn edited_traces_never_panic(
        which in 0usize..2,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let scenario = Scenario::from_toml(SCENARIO).unwrap();
        let _ = Trace::from_toml(&mutate(TRACES[which], &edits, cut), &scenario);
    }
}
