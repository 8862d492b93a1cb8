//! Feature unification, and nothing else. With Cargo's resolver 2, dev-dependencies add
//! features to shared dependencies only when tests are built, so `cargo test` after
//! `cargo run` rebuilt tract (its `bit-set`, `tar` and `regex-syntax` dependencies got more
//! features from `proptest` and `tempfile`). Depending on those crates here, with the same
//! features, from `tiersplit-exec` makes both builds resolve alike.
