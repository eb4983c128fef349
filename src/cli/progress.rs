//! A progress bar on stderr for the library's [`Progress`] reports, drawn only on a terminal.

use std::io::IsTerminal;

use stein::run::Progress;

/// An indicatif bar: steps done, rate, ETA and the library's status line.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    /// A bar on a terminal; hidden when stderr is not one.
    pub fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Bar(indicatif::ProgressBar::hidden());
        }
        let pb = indicatif::ProgressBar::new(1);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Bar(pb)
    }
}

impl Progress for Bar {
    fn update(&mut self, done: u64, total: u64) {
        if self.0.length() != Some(total) {
            self.0.set_length(total);
        }
        self.0.set_position(done);
    }
    fn status(&mut self, line: &str) {
        self.0.set_message(line.to_string());
    }
    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // A failed run leaves no half-drawn bar under its error line.
        if !self.0.is_finished() {
            self.0.finish_and_clear();
        }
    }
}
