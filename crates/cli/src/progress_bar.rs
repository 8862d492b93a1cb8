//! The profiler's progress drawn as a terminal bar.

use indicatif::{ProgressBar, ProgressStyle};
use tiersplit_session::Progress;

/// A terminal progress bar, cleared when the measurement ends.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&mut self, total: u64) {
        self.0.set_length(total);
    }

    fn phase(&mut self, phase: &str) {
        self.0.set_message(phase.to_string());
    }

    fn step(&mut self) {
        self.0.inc(1);
    }

    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}
