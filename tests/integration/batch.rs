//! Batch jobs (issue 18, items 2, 5 and 7): SIGINT and SIGTERM end a run after the step it is
//! in, keeping a checkpoint or the particles reached; progress lines when stderr is not a
//! terminal; a diverging training run stops with exit code 3 and keeps only checked
//! checkpoints; a long SVGD run prints its time estimate first. The signal tests send real
//! signals to real `stein` processes (Unix only).
// The process helpers serve the signal tests, which run on Unix only.
#![cfg_attr(not(unix), allow(dead_code))]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use stein::io::safetensors::Tensors;

use super::common::{gpu, stein};

const DIGITS: &str = "../shared/data/digits8-train-images.npy";
const MIX2: &str = r#"{"kind":"gmm","weights":[1,2],"means":[[-2,0],[2,0]],"stds":[[1,1],[1,1]]}"#;

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// A `stein` process whose stderr lines arrive on a channel as it prints them.
struct Running {
    child: std::process::Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stein"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting stein");
        let (tx, lines) = channel();
        let err = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle` (a safety net of five minutes ends a test
    /// whose process never prints it, instead of hanging the suite).
    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(SAFETY_NET) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("stein never printed `{needle}`; stderr: {:?}", self.seen),
            }
        }
    }

    /// Waits until `path` exists (written by an atomic rename: complete), or fails after the
    /// safety net.
    fn wait_for_file(&mut self, path: &Path) {
        let start = std::time::Instant::now();
        while !path.exists() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("stein ended ({status}) before writing {}", path.display());
            }
            assert!(
                start.elapsed() < SAFETY_NET,
                "{} never appeared",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[cfg(unix)]
    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("running kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Waits for the exit: its code and every stderr line.
    fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let status = self.child.wait().expect("waiting for stein");
        let mut seen = std::mem::take(&mut self.seen);
        seen.extend(self.lines.iter());
        (status.code(), seen)
    }
}

impl Drop for Running {
    /// A failed test leaves no process running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How long a test waits for an event of its process before failing.
const SAFETY_NET: Duration = Duration::from_secs(300);

/// The last line of `lines` that starts with `stein: `.
fn stop_line(lines: &[String]) -> &str {
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("stein: "))
        .unwrap_or_else(|| panic!("no `stein:` line in {lines:?}"))
}

/// The number after `prefix` in `line`.
fn number_after(line: &str, prefix: &str) -> u64 {
    let at = line
        .find(prefix)
        .unwrap_or_else(|| panic!("`{line}` lacks `{prefix}`"))
        + prefix.len();
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{prefix}` in `{line}`"))
}

/// Issue 18, finding 2: SIGTERM during training lost every update since the last checkpoint
/// and said nothing. Now the update in progress finishes, a checkpoint of it is written, one
/// line says where and how to continue, the exit code is 143, and `--resume` continues from
/// that update to the same model as a run that was never stopped.
#[cfg(unix)]
#[test]
fn issue_18_sigterm_ends_training_with_a_checkpoint_to_resume() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (run, straight) = (dir.path().join("run"), dir.path().join("straight"));
    let (run_s, straight_s) = (run.display().to_string(), straight.display().to_string());
    let common = [
        "--data",
        DIGITS,
        "--hidden",
        "5",
        "--algo",
        "pcd",
        "--log-every",
        "1",
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        ["train"]
            .iter()
            .chain(common.iter())
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect()
    };
    // Only the signal can write a checkpoint before the end of this run.
    let a = args(&[
        "--steps",
        "1000000",
        "--checkpoint-every",
        "1000000",
        "--progress-every",
        "0",
        "--out",
        &run_s,
    ]);
    let mut p = Running::spawn(&a.iter().map(String::as_str).collect::<Vec<_>>());
    p.wait_for_file(&run.join("metrics.jsonl"));
    p.signal("TERM");
    let (code, lines) = p.finish();
    assert_eq!(code, Some(143), "{lines:?}");
    let line = stop_line(&lines);
    let t = number_after(line, "interrupted at update ");
    let ck = run.join("checkpoint.safetensors");
    assert!(
        line.contains(" of 1000000; checkpoint written to ")
            && line.contains(&ck.display().to_string())
            && line.ends_with(&format!("continue with: stein train --resume {run_s}")),
        "{line}"
    );
    let saved = Tensors::read(&ck).unwrap();
    assert_eq!(saved.metadata["step"], t.to_string(), "{line}");
    assert!(!run.join("model.safetensors").exists());
    // Three more updates from the checkpoint give the model of t + 3 updates straight.
    let total = (t + 3).to_string();
    let o = stein(&["train", "--resume", &run_s, "--steps", &total]);
    assert!(o.status.success(), "{:?}", stderr_lines(&o));
    let b = args(&["--steps", &total, "--out", &straight_s]);
    let o = stein(&b.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{:?}", stderr_lines(&o));
    let model = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert!(
        model(&run) == model(&straight),
        "stopped at {t} and resumed differs from {total} updates straight"
    );
}

/// Issue 18, findings 2 and 7: SIGINT during `stein svgd --out` wrote nothing, and a run of
/// hours gave no estimate. Now a long run prints its estimate before it starts, and SIGINT
/// ends it after the step in progress with the particles in a partial file beside --out
/// (never --out itself), one line naming it, and exit code 130.
#[cfg(unix)]
#[test]
fn issue_18_sigint_ends_svgd_with_the_particles_in_a_partial_file() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.json");
    std::fs::write(&t, MIX2).unwrap();
    let out = dir.path().join("p.npy");
    let out_s = out.display().to_string();
    let trace = dir.path().join("trace");
    // 200² pairs × 1e7 steps: measured before it starts, and hours on any device.
    let mut p = Running::spawn(&[
        "svgd",
        "--target",
        &t.display().to_string(),
        "--n",
        "200",
        "--steps",
        "10000000",
        "--step-size",
        "0.05",
        "--trace-every",
        "1",
        "--trace-dir",
        &trace.display().to_string(),
        "--out",
        &out_s,
    ]);
    p.wait_for_file(&trace.join("step_000001.npy"));
    p.signal("INT");
    let (code, lines) = p.finish();
    assert_eq!(code, Some(130), "{lines:?}");
    assert!(
        lines[0].starts_with("svgd: this run will take about "),
        "no estimate first: {lines:?}"
    );
    let line = stop_line(&lines);
    let s = number_after(line, "interrupted at step ");
    let partial = dir.path().join(format!("p.partial-step-{s}.npy"));
    assert!(
        line.contains(&format!(
            "the particles after step {s} are in {} (the snapshots so far are kept)",
            partial.display()
        )),
        "{line}"
    );
    assert!(!out.exists(), "--out was written by a stopped run");
    assert!(trace.join(format!("step_{s:06}.npy")).exists());
    let (x, n, d) = stein::io::npy::read_matrix_f32(&partial, "particles").unwrap();
    assert_eq!((n, d), (200, 2));
    assert!(x.iter().all(|v| v.is_finite()));
}

/// AIS and the bench stop on SIGINT too, at the next batch of temperatures or the next timed
/// run, with one line saying that nothing was written (an unfinished estimate or sweep is
/// worth nothing), and exit code 130.
#[cfg(unix)]
#[test]
fn eval_and_bench_stop_on_sigint_and_write_nothing() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run").display().to_string();
    let o = stein(&[
        "train", "--data", DIGITS, "--hidden", "3", "--steps", "5", "--out", &run,
    ]);
    assert!(o.status.success(), "{:?}", stderr_lines(&o));
    let model = format!("{run}/model.safetensors");
    let json = dir.path().join("bench.json");
    let json_s = json.display().to_string();
    let cases: [(&[&str], &str); 2] = [
        (
            &[
                "eval",
                "--model",
                &model,
                "--data",
                DIGITS,
                "--method",
                "ais",
                "--ais-temperatures",
                "1000000",
                "--ais-runs",
                "2",
                "--ais-chains",
                "10",
            ],
            " AIS temperature steps; nothing was written: an unfinished AIS estimate",
        ),
        (
            &[
                "bench",
                "--n-min",
                "64",
                "--n-max",
                "1048576",
                "--dims",
                "2",
                "--phi-only",
                "--json",
                &json_s,
            ],
            " bench configurations; nothing was written",
        ),
    ];
    for (args, want) in cases {
        let mut p = Running::spawn(&[args, &["--progress-every", "0"]].concat());
        p.wait_for(&format!("{}: ", args[0]));
        p.signal("INT");
        let (code, lines) = p.finish();
        assert_eq!(code, Some(130), "{lines:?}");
        let line = stop_line(&lines);
        assert!(
            line.starts_with("stein: interrupted after ") && line.contains(want),
            "{line}"
        );
    }
    assert!(!json.exists());
}

/// A second signal ends the command at once, without waiting for the step in progress (here
/// the first step of a million particles, 10¹² pairs: hours on lavapipe, seconds on a large
/// GPU), and writes nothing.
#[cfg(unix)]
#[test]
fn a_second_signal_exits_at_once() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.json");
    std::fs::write(&t, MIX2).unwrap();
    let out = dir.path().join("p.npy");
    let mut p = Running::spawn(&[
        "svgd",
        "--target",
        &t.display().to_string(),
        "--n",
        "1000000",
        "--steps",
        "1000",
        "--step-size",
        "0.05",
        "--bandwidth",
        "1",
        "--out",
        &out.display().to_string(),
    ]);
    // The estimate comes before the first step. (Two signals of one kind pending at once
    // may merge into one; SIGINT and SIGTERM do not.)
    p.wait_for("this run will take about");
    p.signal("INT");
    std::thread::sleep(Duration::from_millis(200));
    p.signal("TERM");
    let (code, lines) = p.finish();
    assert_eq!(code, Some(143), "{lines:?}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["t.json"], "{lines:?}");
}

/// Issue 18, finding 5: with stderr redirected, a run printed nothing until its end. Now each
/// long command prints plain progress lines (at most every --progress-every seconds; 0 here:
/// every step) with the count, the rate, the time left and the live metric, and --quiet
/// silences them.
#[test]
fn issue_18_headless_runs_print_progress_lines() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run").display().to_string();
    let t = dir.path().join("t.json");
    std::fs::write(&t, MIX2).unwrap();
    let t = t.display().to_string();
    let json = dir.path().join("bench.json").display().to_string();
    let model = format!("{run}/model.safetensors");
    let commands: [(&str, Vec<&str>); 4] = [
        (
            "train: ",
            vec![
                "train",
                "--data",
                DIGITS,
                "--hidden",
                "3",
                "--steps",
                "12",
                "--log-every",
                "4",
                "--out",
                &run,
            ],
        ),
        (
            "svgd: ",
            vec![
                "svgd",
                "--target",
                &t,
                "--n",
                "50",
                "--steps",
                "12",
                "--step-size",
                "0.1",
                "--ksd-every",
                "4",
                "--out",
            ],
        ),
        (
            "eval: ",
            vec![
                "eval",
                "--model",
                &model,
                "--data",
                DIGITS,
                "--method",
                "ais",
                "--ais-temperatures",
                "20",
                "--ais-runs",
                "2",
                "--ais-chains",
                "10",
            ],
        ),
        (
            "bench: ",
            vec![
                "bench",
                "--n-min",
                "64",
                "--n-max",
                "128",
                "--dims",
                "2",
                "--phi-only",
                "--json",
                &json,
            ],
        ),
    ];
    for (i, quiet) in [(0, false), (1, true)] {
        for (label, args) in &commands {
            let particles = dir.path().join(format!("p{i}.npy")).display().to_string();
            let mut args = args.clone();
            if args[0] == "svgd" {
                args.push(&particles);
            }
            if args[0] == "train" && i == 1 {
                continue; // the run directory exists: train once
            }
            let every = ["--progress-every", "0"];
            let q = ["--quiet"];
            let extra: &[&str] = if quiet { &q } else { &every };
            if args[0] == "bench" && i == 1 {
                args.push("--overwrite"); // bench.json exists from the first pass
            }
            let o = stein(&[&args[..], extra].concat());
            let lines = stderr_lines(&o);
            assert!(o.status.success(), "{args:?}: {lines:?}");
            let progress: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with(label) && l.contains(" eta "))
                .collect();
            if quiet {
                assert!(progress.is_empty(), "--quiet {args:?}: {progress:?}");
            } else {
                assert!(
                    !progress.is_empty(),
                    "{args:?}: no progress line in {lines:?}"
                );
                // done/total, a rate, and the live metric where the command has one.
                let first = progress[0];
                assert!(first.contains('/') && first.contains('%'), "{first}");
                let metric = match args[0] {
                    "train" => "gap ",
                    "svgd" => "KSD² ",
                    "bench" => "pairs/s",
                    _ => "",
                };
                assert!(
                    progress.iter().any(|l| l.contains(metric)),
                    "{args:?}: no `{metric}` in {progress:?}"
                );
            }
        }
    }
}

/// Issue 18, finding 7: `--lr 1e6` trained to the end and exited 0 with an energy gap near
/// −1e14. Now an energy gap beyond ±1e8 (or ‖θ‖ beyond 1e8, or NaN) stops the run like a
/// NaN: exit code 3, one line naming the update, the value and the option to lower, and
/// only checkpoints of checked updates are kept. (Adam's first step moves each parameter by
/// about lr, from θ₀ whose gap is small: update 1 passes, update 2's gap explodes.)
#[test]
fn issue_18_a_diverging_training_run_stops_with_exit_code_3() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.display().to_string();
    let train = |extra: &[&str]| {
        let base = [
            "train", "--data", DIGITS, "--hidden", "5", "--lr", "1e6", "--steps", "50",
        ];
        stein(&[&base[..], extra].concat())
    };
    let o = train(&[
        "--log-every",
        "1",
        "--checkpoint-every",
        "1",
        "--out",
        &run_s,
    ]);
    let lines = stderr_lines(&o);
    assert_eq!(o.status.code(), Some(3), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    for want in [
        "training diverged at update 2",
        "energy gap",
        "beyond ±1e8",
        "lower --lr (now 1000000)",
        "the last good checkpoint, of update 1, is kept",
    ] {
        assert!(lines[0].contains(want), "`{}` lacks `{want}`", lines[0]);
    }
    let ck = Tensors::read(&run.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.metadata["step"], "1");
    let theta = &ck.tensors["theta"].1;
    let norm = theta
        .iter()
        .map(|&v| f64::from(v).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(
        norm.is_finite() && norm <= stein::train::DIVERGED_THETA_NORM,
        "‖θ‖ {norm}"
    );
    assert!(!run.join("model.safetensors").exists());
    // Without a checkpoint before the divergence, the run directory it made is removed.
    let other = dir.path().join("other");
    let o = train(&["--out", &other.display().to_string()]);
    let lines = stderr_lines(&o);
    assert_eq!(o.status.code(), Some(3), "{lines:?}");
    assert!(lines[0].contains("so nothing is kept"), "{lines:?}");
    assert!(!other.exists());
}

/// Stops after `after` questions: the caller of a library workflow asking it to stop (as a
/// Python binding will on Ctrl-C).
struct StopAfter {
    asked: u64,
    after: u64,
}

impl stein::run::Progress for StopAfter {
    fn should_stop(&mut self) -> bool {
        self.asked += 1;
        self.asked > self.after
    }
}

/// From the library: a training job asked to stop ends after the update in progress with a
/// checkpoint of it and `interrupted` set, and resumes to the same model as a job never
/// stopped; an SVGD run returns the particles reached, with `partial` naming the file
/// written instead of `out`.
#[test]
fn library_workflows_stop_when_their_caller_asks() {
    use stein::run::svgd::Init;
    use stein::run::{Schedule, SvgdRun, TrainJob, TrainOptions};
    let Some((ctx, _)) = gpu().unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // d = 3: no density plot, which d = 2 runs draw.
    let (x, _) = super::common::normals(300, 3, 1.0, 11);
    let data = dir.path().join("data.npy");
    std::fs::write(&data, stein::io::npy::encode_npy_f32(&x, &[300, 3])).unwrap();
    let options = TrainOptions {
        hidden: 4,
        batch: 50,
        ..Default::default()
    };
    let schedule = |steps| Schedule {
        steps: Some(steps),
        log_every: Some(5),
        checkpoint_every: Some(1000),
        ..Default::default()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    // Asked before each update: `true` before the 8th makes it the last.
    let mut stop = StopAfter { asked: 0, after: 7 };
    let stopped = TrainJob::new(data.clone(), b.clone(), &options, &schedule(20))
        .unwrap()
        .run(ctx, &mut stop)
        .unwrap();
    assert!(stopped.interrupted);
    assert_eq!(stopped.steps, 8);
    assert!(!b.join("model.safetensors").exists());
    let ck = Tensors::read(&b.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.metadata["step"], "8");
    let resumed = TrainJob::resume(b.clone(), &schedule(20))
        .unwrap()
        .run(ctx, &mut stein::run::Silent)
        .unwrap();
    assert!(!resumed.interrupted);
    TrainJob::new(data, a.clone(), &options, &schedule(20))
        .unwrap()
        .run(ctx, &mut stein::run::Silent)
        .unwrap();
    let model = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert!(model(&a) == model(&b), "stopped and resumed differs");

    let target = stein::io::target::from_json_str(MIX2, "MIX2").unwrap();
    let out = dir.path().join("p.npy");
    let run = SvgdRun {
        out: Some(out.clone()),
        ..SvgdRun::new(
            Init::Normal {
                n: 40,
                mean: vec![0.0],
                std: 1.0,
                seed: 3,
            },
            100,
            0.1,
        )
    };
    // Asked after each step: `true` after the 5th.
    let r = run
        .run(ctx, &target, &mut StopAfter { asked: 0, after: 4 })
        .unwrap();
    assert!(r.interrupted && r.steps == 5 && r.ksd2_u.is_nan(), "{r:?}");
    let partial = dir.path().join("p.partial-step-5.npy");
    assert_eq!(r.partial.as_deref(), Some(partial.as_path()));
    let (saved, _, _) = stein::io::npy::read_matrix_f32(&partial, "particles").unwrap();
    assert_eq!(saved, r.particles);
    assert!(!out.exists());
}
