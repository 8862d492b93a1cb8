//! Every fuzz target's body under a bounded property-based run, as CI runs it: random bytes,
//! and the target's seeds with bytes replaced and cut. `TIERSPLIT_FUZZ_CASES` sets the number
//! of cases per target (256 by default); `scripts/fuzz` runs the coverage-guided fuzzer.

use proptest::prelude::*;
use tiersplit_fuzz::{seeds, TARGETS};

fn cases() -> u32 {
    std::env::var("TIERSPLIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

#[test]
fn every_target_has_seeds_and_takes_them() {
    for (name, body) in TARGETS {
        let s = seeds(name);
        assert!(!s.is_empty(), "{name} has no seeds");
        for seed in &s {
            body(seed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(
        target in 0..TARGETS.len(),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        (TARGETS[target].1)(&bytes);
    }

    #[test]
    fn edited_seeds_never_panic(
        target in 0..TARGETS.len(),
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (name, body) = TARGETS[target];
        let all = seeds(name);
        let mut bytes = which.get(&all).clone();
        for (at, b) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        body(&bytes);
    }
}
