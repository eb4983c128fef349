//! Outputs and run directories, through the binary: nothing that exists is overwritten
//! unless asked, one process writes a run directory at a time, a resume honours the options it
//! may change and refuses the others, and a run it cannot continue is named with what to do
//! (issue 18, findings 1, 3 and 6).
//!
//! `STEIN_TEST_BIN=/path/to/stein` runs these tests against another binary (say, one built
//! before the rules existed, to see them fail there).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use stein::io::npy::encode_npy_f32;

use super::common::gpu;

fn bin() -> PathBuf {
    std::env::var_os("STEIN_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_stein").into())
}

fn stein(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("running stein")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts exit code 2 and one line on stderr containing every `needle`; returns the line.
fn refused(o: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{}` lacks `{n}`", lines[0]);
    }
    lines[0].to_string()
}

/// Every file under `dir` with its bytes, sorted by path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

fn config(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap()
}

/// d = 64 (no density plot, which 2-D runs draw), a 3-unit RBM: a run takes a second or two.
const DIGITS: &str = "../shared/data/digits8-train-images.npy";

/// `stein train` on DIGITS with a 3-unit RBM, then `extra`.
fn train(extra: &[&str]) -> Output {
    let mut args = vec!["train", "--data", DIGITS, "--hidden", "3"];
    args.extend_from_slice(extra);
    stein(&args)
}

/// Finding 1: a second `train --out` on a finished run returned 0 and replaced it, with the
/// old metrics lines kept before the new ones.
#[test]
fn a_finished_run_is_never_overwritten_unless_asked() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    ok(&train(&["--steps", "10", "--log-every", "5", "--out", r]));
    let before = snapshot(&run);
    refused(
        &train(&["--steps", "5", "--seed", "1", "--out", r]),
        &[r, "holds a run already", "--resume", "--overwrite"],
    );
    assert_eq!(
        snapshot(&run),
        before,
        "a refused run changed the directory"
    );

    // --overwrite removes the old run first (only its files), then writes the new one.
    std::fs::write(run.join("notes.txt"), "mine").unwrap();
    ok(&train(&[
        "--steps",
        "5",
        "--log-every",
        "5",
        "--seed",
        "1",
        "--overwrite",
        "--out",
        r,
    ]));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [5], "old metrics lines were kept: {metrics}");
    assert_eq!(config(&run)["train"]["seed"], 1);
    assert_eq!(
        std::fs::read_to_string(run.join("notes.txt")).unwrap(),
        "mine"
    );

    // A directory of other files is no run: refused, even with --overwrite, and left alone.
    let other = dir.path().join("photos");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("cat.jpg"), "meow").unwrap();
    for extra in [&[][..], &["--overwrite"][..]] {
        let mut args = vec!["--steps", "5", "--out", other.to_str().unwrap()];
        args.extend_from_slice(extra);
        refused(&train(&args), &["cat.jpg", "no stein run"]);
    }
    assert_eq!(snapshot(&other).len(), 1);
}

/// The same rule for every command's output files and for `svgd --trace-dir`.
#[test]
fn output_files_and_snapshots_that_exist_are_refused_unless_asked() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = |name: &str| dir.path().join(name).display().to_string();
    let target = s("t.json");
    std::fs::write(
        &target,
        r#"{"kind":"gmm","weights":[1],"means":[[0,0]],"stds":[[1,1]]}"#,
    )
    .unwrap();
    let x = s("x.npy");
    std::fs::write(
        &x,
        encode_npy_f32(&[0.0, 1.0, 1.0, 0.0, -1.0, 0.5], &[3, 2]),
    )
    .unwrap();
    let out = s("phi.npy");
    std::fs::write(&out, "keep").unwrap();
    let phi = |extra: &[&str]| {
        let mut args = vec!["phi", "--target", &target, "--particles", &x, "--out", &out];
        args.extend_from_slice(extra);
        stein(&args)
    };
    refused(&phi(&[]), &[&out, "exists", "--overwrite"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    ok(&phi(&["--overwrite"]));
    assert_ne!(std::fs::read(&out).unwrap(), b"keep");

    // svgd: a --trace-dir with snapshots of an earlier run.
    let trace = dir.path().join("trace");
    std::fs::create_dir(&trace).unwrap();
    std::fs::write(trace.join("step_000007.npy"), "old").unwrap();
    std::fs::write(trace.join("readme.txt"), "mine").unwrap();
    let t = trace.display().to_string();
    let final_ = s("final.npy");
    let svgd = |extra: &[&str]| {
        let mut args = vec![
            "svgd",
            "--target",
            &target,
            "--n",
            "20",
            "--steps",
            "4",
            "--step-size",
            "0.1",
            "--trace-every",
            "2",
            "--trace-dir",
            &t,
            "--out",
            &final_,
        ];
        args.extend_from_slice(extra);
        stein(&args)
    };
    refused(&svgd(&[]), &[&t, "step_000007.npy", "--overwrite"]);
    assert!(!Path::new(&final_).exists());
    ok(&svgd(&["--overwrite"]));
    let mut names: Vec<String> = std::fs::read_dir(&trace)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["readme.txt", "step_000002.npy", "step_000004.npy"]);
    refused(&svgd(&[]), &[&final_, "exists"]);
}

/// Two processes never write one run directory: the second is refused at once, naming the
/// first's pid; killed, the first leaves no lock behind.
#[test]
fn a_run_directory_is_written_by_one_process_at_a_time() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    // Long enough to be killed first; no checkpoint before it is.
    let mut first = Command::new(bin())
        .args([
            "train",
            "--data",
            DIGITS,
            "--hidden",
            "3",
            "--steps",
            "100000000",
        ])
        .args([
            "--checkpoint-every",
            "100000000",
            "--log-every",
            "100000000",
            "--out",
            r,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The run has started once its config.json is there (written under the lock).
    while !run.join("config.json").exists() {
        if let Some(status) = first.try_wait().unwrap() {
            panic!("the first run ended before it started training: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = format!("pid {}", first.id());
    let second = [
        train(&["--steps", "5", "--out", r]),
        train(&["--steps", "5", "--overwrite", "--out", r]),
        stein(&["train", "--resume", r, "--steps", "5"]),
    ];
    first.kill().unwrap();
    first.wait().unwrap();
    for o in &second {
        refused(o, &[r, "in use by another stein process", &pid]);
    }
    // Killed before its first checkpoint: the lock is gone, and resume says what happened.
    refused(
        &stein(&["train", "--resume", r, "--steps", "5"]),
        &[
            "stopped before its first checkpoint",
            "100000000",
            "--overwrite",
        ],
    );
    ok(&train(&["--steps", "5", "--overwrite", "--out", r]));
}

/// Finding 3: `--resume` with `--lr` returned 0 and kept the run's lr. Now the options a
/// resume may change are applied and recorded; any other that differs is refused.
#[test]
fn a_resume_honours_the_schedule_and_refuses_other_changes() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    ok(&train(&[
        "--steps",
        "10",
        "--log-every",
        "5",
        "--checkpoint-every",
        "5",
        "--out",
        r,
    ]));
    let before = snapshot(&run);
    let line = refused(
        &stein(&[
            "train", "--resume", r, "--lr", "1e-3", "--algo", "pcd", "--steps", "16",
        ]),
        &[
            "--lr 0.001 (the run has 0.0003)",
            "--algo pcd (the run has cd)",
            "--steps",
        ],
    );
    assert!(
        !line.contains("--steps 16"),
        "a schedule option listed: {line}"
    );
    // From a config file too.
    let toml = dir.path().join("more.toml");
    std::fs::write(&toml, "lr = 0.001\nsteps = 16\n").unwrap();
    refused(
        &stein(&["train", "--resume", r, "--config", toml.to_str().unwrap()]),
        &["--lr 0.001 (the run has 0.0003)"],
    );
    refused(
        &stein(&["train", "--resume", r, "--data", "ring8", "--steps", "16"]),
        &["--data ring8 (the run has"],
    );
    assert_eq!(snapshot(&run), before, "a refused resume changed the run");

    // The run's own options, given again, are no change; the schedule may change.
    ok(&stein(&[
        "train",
        "--resume",
        r,
        "--data",
        DIGITS,
        "--hidden",
        "3",
        "--lr",
        "0.0003",
        "--steps",
        "16",
        "--log-every",
        "2",
    ]));
    let c = config(&run);
    assert_eq!(c["train"]["steps"], 16);
    assert_eq!(c["train"]["log_every"], 2);
    assert_eq!(
        c["checkpoint_every"], 5,
        "the run's own --checkpoint-every was not kept"
    );
    assert_eq!(
        c["changes"],
        serde_json::json!([
            {"step": 10, "option": "steps", "from": 10, "to": 16},
            {"step": 10, "option": "log-every", "from": 5, "to": 2},
        ])
    );
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [5, 10, 12, 14, 16]);
}

/// The bytes of a safetensors file with the metadata entry `key` removed.
fn without_metadata(bytes: &[u8], key: &str) -> Vec<u8> {
    let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + hlen]).unwrap();
    header["__metadata__"].as_object_mut().unwrap().remove(key);
    let mut h = header.to_string().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend_from_slice(&bytes[8 + hlen..]);
    out
}

/// Finding 6: a resume before the first checkpoint said "cannot read the model file". Now
/// that, a run of another format and a damaged checkpoint or model each say what they are
/// and what to do; a run from before the format field and checksums still resumes.
#[test]
fn a_run_that_cannot_continue_says_why_and_what_to_do() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    ok(&train(&[
        "--steps",
        "10",
        "--checkpoint-every",
        "5",
        "--out",
        r,
    ]));
    let ck_path = run.join("checkpoint.safetensors");
    let ck = std::fs::read(&ck_path).unwrap();
    let resume = || stein(&["train", "--resume", r, "--steps", "12"]);

    // A run of format 1 without the field or the checksum (written before they existed)
    // resumes.
    let cfg = config(&run);
    let mut old = cfg.clone();
    old.as_object_mut().unwrap().remove("format");
    std::fs::write(run.join("config.json"), old.to_string()).unwrap();
    std::fs::write(
        &ck_path,
        without_metadata(&without_metadata(&ck, "format"), "checksum"),
    )
    .unwrap();
    ok(&resume());

    // Another format.
    let mut newer = cfg.clone();
    newer["format"] = 2.into();
    std::fs::write(run.join("config.json"), newer.to_string()).unwrap();
    refused(&resume(), &["format 2", "reads format 1", "--overwrite"]);
    std::fs::write(run.join("config.json"), cfg.to_string()).unwrap();

    // A flipped bit in the checkpoint's data.
    let mut damaged = ck.clone();
    *damaged.last_mut().unwrap() ^= 0x10;
    std::fs::write(&ck_path, &damaged).unwrap();
    refused(
        &resume(),
        &["checkpoint", "damaged", "integrity check", "--overwrite"],
    );

    // No checkpoint: the run stopped before its first.
    std::fs::remove_file(&ck_path).unwrap();
    let line = refused(
        &resume(),
        &[
            "stopped before its first checkpoint",
            "every 5 updates",
            "--overwrite",
        ],
    );
    assert!(!line.contains("model file"), "{line}");

    // A damaged model file is refused by eval (and energy, sample).
    let model = run.join("model.safetensors");
    let mut m = std::fs::read(&model).unwrap();
    *m.last_mut().unwrap() ^= 0x10;
    std::fs::write(&model, &m).unwrap();
    refused(
        &stein(&["eval", "--model", model.to_str().unwrap(), "--data", DIGITS]),
        &["model.safetensors", "fails its integrity check"],
    );
}
