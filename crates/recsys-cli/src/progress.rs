// SPDX-License-Identifier: Apache-2.0
//! Progress bars on standard error; hidden when it is not a terminal or with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use recsys_core::Progress;

pub struct Bars {
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Self {
        Bars { quiet }
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    fn bar(&self, len: u64, template: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len), self.target());
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    /// A spinner counting input lines.
    pub fn reading(&self, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} reading {msg}: {pos} lines ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_string());
        bar
    }

    /// A bar driven by a fit's progress callback.
    pub fn training(&self, algorithm: &str) -> ProgressBar {
        let bar = self.bar(1, "{msg:>10} [{bar:30}] {percent:>3}% {elapsed} eta {eta}");
        bar.set_message(algorithm.to_string());
        bar
    }
}

pub fn update(bar: &ProgressBar, p: Progress) {
    bar.set_length(p.total.max(1));
    bar.set_position(p.done);
}
