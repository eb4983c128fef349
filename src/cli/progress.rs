//! Progress on stderr for the library's [`Progress`] reports: an indicatif bar on a terminal;
//! elsewhere (a log file, a pipe: a batch job) one plain line at most every
//! `--progress-every` seconds with the units done, the rate, the time left and the live
//! status; nothing with `--quiet`. It also prints a long run's time estimate before the run
//! starts, and answers the library's stop question from the signal flag ([`super::signals`]).

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use stein::run::{Estimate, Progress};

/// An estimate is printed when the run will take at least this many seconds.
pub const ESTIMATE_FROM_SECONDS: f64 = 60.0;

/// How progress is shown: the global `--quiet` and `--progress-every`.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Show nothing.
    pub quiet: bool,
    /// Least time between two progress lines when stderr is not a terminal.
    pub every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            quiet: false,
            every: Duration::from_secs(10),
        }
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets how progress is shown, once, before a command runs.
pub fn configure(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// How the reports are shown.
enum Show {
    Bar(indicatif::ProgressBar),
    Lines(Lines),
    Nothing,
}

/// The state of the plain lines: when and where the count started, when the last line was
/// printed.
struct Lines {
    every: Duration,
    start: Option<(Instant, u64)>,
    last: Instant,
    last_done: u64,
}

/// Text of an estimate line, made by the command that knows what its steps are.
type EstimateText = Box<dyn Fn(&Estimate) -> String>;

/// The `Progress` of a command: `label` starts each line (`train`, `svgd`, ...), `unit`
/// names what is counted (`updates`, `steps`, ...).
pub struct Reporter {
    label: &'static str,
    unit: &'static str,
    show: Show,
    status: String,
    estimate_text: Option<EstimateText>,
}

impl Reporter {
    /// A bar on a terminal, lines elsewhere, nothing with `--quiet`.
    pub fn new(label: &'static str, unit: &'static str) -> Self {
        let s = settings();
        let show = if s.quiet {
            Show::Nothing
        } else if std::io::stderr().is_terminal() {
            let pb = indicatif::ProgressBar::new(1);
            pb.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{{bar:40}} {{pos}}/{{len}} {unit}  {{per_sec}}  eta {{eta}}  {{msg}}"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Show::Bar(pb)
        } else {
            Show::Lines(Lines {
                every: s.every,
                start: None,
                last: Instant::now(),
                last_done: 0,
            })
        };
        Reporter {
            label,
            unit,
            show,
            status: String::new(),
            estimate_text: None,
        }
    }

    /// Prints `text(estimate)` when a run's estimate reaches [`ESTIMATE_FROM_SECONDS`].
    pub fn with_estimate(mut self, text: impl Fn(&Estimate) -> String + 'static) -> Self {
        self.estimate_text = Some(Box::new(text));
        self
    }

    fn println(&self, line: &str) {
        match &self.show {
            Show::Bar(pb) => pb.suspend(|| eprintln!("{line}")),
            Show::Lines(_) => eprintln!("{line}"),
            Show::Nothing => {}
        }
    }
}

impl Progress for Reporter {
    fn update(&mut self, done: u64, total: u64) {
        let line = match &mut self.show {
            Show::Bar(pb) => {
                if pb.length() != Some(total) {
                    pb.set_length(total);
                }
                pb.set_position(done);
                None
            }
            Show::Lines(l) => {
                let now = Instant::now();
                match l.start {
                    None => {
                        l.start = Some((now, done));
                        (l.last, l.last_done) = (now, done);
                        None
                    }
                    Some((t0, d0)) if done > l.last_done && now - l.last >= l.every => {
                        (l.last, l.last_done) = (now, done);
                        let rate = (done - d0) as f64 / (now - t0).as_secs_f64().max(1e-9);
                        Some(progress_line(
                            self.label,
                            self.unit,
                            (done, total),
                            rate,
                            &self.status,
                        ))
                    }
                    Some(_) => None,
                }
            }
            Show::Nothing => None,
        };
        if let Some(line) = line {
            eprintln!("{line}");
        }
    }

    fn status(&mut self, line: &str) {
        if let Show::Bar(pb) = &self.show {
            pb.set_message(line.to_string());
        }
        self.status = line.to_string();
    }

    fn estimate(&mut self, estimate: &Estimate) {
        if estimate.seconds >= ESTIMATE_FROM_SECONDS {
            if let Some(text) = &self.estimate_text {
                let line = format!("{}: {}", self.label, text(estimate));
                self.println(&line);
            }
        }
    }

    fn should_stop(&mut self) -> bool {
        super::signals::stop_requested()
    }

    fn finish(&mut self) {
        if let Show::Bar(pb) = &self.show {
            pb.finish_and_clear();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        // A failed run leaves no half-drawn bar under its error line.
        if let Show::Bar(pb) = &self.show {
            if !pb.is_finished() {
                pb.finish_and_clear();
            }
        }
    }
}

/// One plain progress line: `train: 1200/5000 updates (24%), 38.2 updates/s, eta 1 min 40 s,
/// gap 0.123`.
pub fn progress_line(
    label: &str,
    unit: &str,
    (done, total): (u64, u64),
    rate: f64,
    status: &str,
) -> String {
    let pct = if total > 0 {
        100.0 * done as f64 / total as f64
    } else {
        100.0
    };
    let speed = if rate >= 1.0 {
        format!("{rate:.1} {unit}/s")
    } else {
        format!("{} each", duration(1.0 / rate))
    };
    let eta = duration(total.saturating_sub(done) as f64 / rate);
    let status = if status.is_empty() {
        String::new()
    } else {
        format!(", {status}")
    };
    format!("{label}: {done}/{total} {unit} ({pct:.0}%), {speed}, eta {eta}{status}")
}

/// A duration for people: `45 s`, `3 min 20 s`, `5 h 12 min`, `3.5 days`, `2.6 years`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "unknown".into();
    }
    const DAY: f64 = 86_400.0;
    if seconds < 10.0 {
        format!("{seconds:.1} s")
    } else if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else if seconds < 3600.0 {
        let s = seconds.round() as u64;
        format!("{} min {} s", s / 60, s % 60)
    } else if seconds < 2.0 * DAY {
        let m = (seconds / 60.0).round() as u64;
        format!("{} h {} min", m / 60, m % 60)
    } else if seconds < 365.0 * DAY {
        format!("{:.1} days", seconds / DAY)
    } else {
        format!("{:.1} years", seconds / (365.25 * DAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(4.25), "4.2 s");
        assert_eq!(duration(45.4), "45 s");
        assert_eq!(duration(200.0), "3 min 20 s");
        assert_eq!(duration(5.0 * 3600.0 + 12.0 * 60.0 + 10.0), "5 h 12 min");
        assert_eq!(duration(3.5 * 86_400.0), "3.5 days");
        assert_eq!(duration(2.6 * 365.25 * 86_400.0), "2.6 years");
        assert_eq!(duration(f64::INFINITY), "unknown");
    }

    #[test]
    fn a_progress_line_has_the_count_rate_eta_and_status() {
        assert_eq!(
            progress_line("train", "updates", (1200, 5000), 38.0, "gap 0.123"),
            "train: 1200/5000 updates (24%), 38.0 updates/s, eta 1 min 40 s, gap 0.123"
        );
        // Slow steps give the time of one; no status, no trailing comma.
        assert_eq!(
            progress_line("svgd", "steps", (3, 10), 0.25, ""),
            "svgd: 3/10 steps (30%), 4.0 s each, eta 28 s"
        );
    }
}
