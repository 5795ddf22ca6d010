//! Shows the executor's progress: a progress bar when stderr is a
//! terminal, one log line per event otherwise.

use std::io::IsTerminal;

use crate::apply::Event;
use indicatif::{ProgressBar, ProgressStyle};

/// Where progress goes.
pub(crate) enum Progress {
    Bar(ProgressBar),
    Lines,
}

impl Progress {
    /// A bar over `total` operations on a terminal, log lines elsewhere.
    pub(super) fn new(total: usize) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            Progress::Bar(bar)
        } else {
            Progress::Lines
        }
    }

    pub(super) fn event(&self, event: Event<'_>) {
        let line = event.to_string();
        match self {
            Progress::Bar(bar) => {
                if matches!(event, Event::Applied { .. }) {
                    bar.inc(1);
                }
                bar.set_message(line);
            }
            Progress::Lines => super::say(&line),
        }
    }

    pub(super) fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
