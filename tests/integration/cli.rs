//! The command line: bad input gets one clear line, exit code 2 and no output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stein::io::npy::encode_npy_f32;

use super::common::{gpu, stein, stein_gemm};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }
    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// The geyser run (d = 2, 299 rows) that three tests share, trained once per process:
/// `--standardize --hidden 3 --epochs 8 --batch 50` (⌈8·299/50⌉ = 48 updates). Every
/// `stein train` on 2-D data ends with density.png, whose 500 SVGD samples (1000 steps, the
/// exact median at each) take nearly all of a run's 8 s on lavapipe, against about 0.1 s for
/// the training and each eval: one run serves the update count, the quadrature check and the
/// refusals of a plain run. It lives in `CARGO_TARGET_TMPDIR`, one directory per process;
/// directories of runs over an hour old are removed.
fn geyser_run() -> &'static Path {
    static RUN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let prefix = "cli-geyser-run-";
        for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let stale = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| {
                t.elapsed()
                    .is_ok_and(|age| age > std::time::Duration::from_secs(3600))
            });
            if stale && e.file_name().to_string_lossy().starts_with(prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let run = tmp.join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run);
        let o = stein(&[
            "train",
            "--data",
            GEYSER,
            "--standardize",
            "--hidden",
            "3",
            "--epochs",
            "8",
            "--batch",
            "50",
            "--log-every",
            "1000",
            "--out",
            &run.display().to_string(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        run
    })
}

const GEYSER: &str = "../shared/data/geyser.csv";

/// Width and height of a PNG.
fn png_size(path: &Path) -> (usize, usize) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let info = dec.read_info().unwrap().info().clone();
    (info.width as usize, info.height as usize)
}

/// How many pixels of an RGB PNG are not white: a picture with something drawn on it.
fn inked(path: &Path) -> usize {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    buf.chunks_exact(3)
        .filter(|p| p != &[255, 255, 255])
        .count()
}

/// A run directory ends with curves.png (1100x840) and, for d = 2, density.png (800x800),
/// both drawn; `stein plot RUN_DIR` draws the curves again elsewhere, refuses to replace the
/// run's own without --overwrite, and refuses a directory that holds no run, in one line.
#[test]
fn run_directory_pictures_and_stein_plot() {
    if gpu().unwrap().is_none() {
        return;
    }
    let run = geyser_run();
    for (file, size) in [("curves.png", (1100, 840)), ("density.png", (800, 800))] {
        let p = run.join(file);
        assert_eq!(png_size(&p), size, "{file}");
        assert!(inked(&p) > 20_000, "{file} is nearly blank");
    }
    let dir = Dir::new();
    let out = dir.s("c.png");
    let r = run.display().to_string();
    let o = stein(&["plot", &r, "--out", &out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(png_size(Path::new(&out)), (1100, 840));
    assert!(inked(Path::new(&out)) > 20_000);
    fails(
        &stein(&["plot", &r]),
        &["curves.png", "--overwrite"],
        &dir.path("none"),
    );
    std::fs::create_dir(dir.path("empty")).unwrap();
    fails(
        &stein(&["plot", &dir.s("empty")]),
        &["holds no run"],
        &dir.path("empty/curves.png"),
    );
}

/// `stein bench --plot` draws the sweep with a peer's lines (the JSON of
/// tools/torch_phi_baseline.py); a peer that is not JSON is refused before the sweep, and
/// `stein plot BENCH_JSON` draws it again.
#[test]
fn bench_plot_with_a_peer() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let peer = dir.write(
        "torch.json",
        br#"{"adapter": "NVIDIA H200", "rows": [{"n": 64, "d": 2, "phi_seconds": 1e-5, "pairs_per_second": 4.1e8}, {"n": 128, "d": 2, "phi_seconds": 2e-5, "pairs_per_second": 8.2e8}]}"#,
    );
    let (json, png) = (dir.s("bench.json"), dir.s("bench.png"));
    let bad = dir.write("bad.json", b"{");
    let args = |peer: &str| {
        [
            "bench", "--dims", "2", "--n-min", "64", "--n-max", "128", "--json", &json, "--plot",
            &png, "--peer",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([peer.to_string()])
        .collect::<Vec<String>>()
    };
    let run = |peer: &str| {
        let a = args(peer);
        stein(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    fails(
        &run(&bad),
        &["--peer", "bad.json", "not JSON"],
        Path::new(&json),
    );
    let o = run(&peer);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(png_size(Path::new(&png)), (1400, 640));
    assert!(inked(Path::new(&png)) > 20_000);
    let again = dir.s("again.png");
    let o = stein(&["plot", &json, "--peer", &peer, "--out", &again]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(png_size(Path::new(&again)), (1400, 640));
    fails(
        &stein(&["plot", &json]),
        &["--overwrite"],
        &dir.path("none"),
    );
}

const MIX2: &str = r#"{"kind":"gmm","weights":[1,2],"means":[[-2,0],[2,0]],"stds":[[1,1],[1,1]]}"#;

/// Asserts exit code 2, one line on stderr containing every `needle`, and no `out` file.
fn fails(out: &Output, needles: &[&str], no_file: &Path) {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{}` lacks `{n}`", lines[0]);
    }
    assert!(!no_file.exists(), "{} was written", no_file.display());
}

fn header(descr: &str, fortran: bool, shape: &str) -> Vec<u8> {
    let mut h = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    b
}

#[test]
fn phi_writes_npy_and_prints_json() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let t = dir.write("t.json", MIX2.as_bytes());
    let x = dir.write(
        "x.npy",
        &encode_npy_f32(&[0.0, 0.0, 1.0, 0.5, -1.0, 2.0], &[3, 2]),
    );
    let out = dir.s("phi.npy");
    let o = stein(&["phi", "--target", &t, "--particles", &x, "--out", &out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["n"], 3);
    assert_eq!(v["d"], 2);
    assert!(v["h"].as_f64().unwrap() > 0.0);
    let a = stein::io::npy::read_npy(Path::new(&out)).unwrap();
    assert_eq!(a.shape, vec![3, 2]);
    // The opt-in sampled median is the exact one for n <= 2048 (the selector lists every pair).
    let o = stein(&[
        "phi",
        "--target",
        &t,
        "--particles",
        &x,
        "--out",
        &out,
        "--bandwidth",
        "median-sampled",
        "--overwrite",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(w["h"], v["h"]);
}

#[test]
fn bad_target_files_are_rejected() {
    let dir = Dir::new();
    let x = dir.write("x.npy", &encode_npy_f32(&[0.0, 0.0, 1.0, 0.5], &[2, 2]));
    let out = dir.path("phi.npy");
    let o = out.display().to_string();
    let cases: &[(&str, &[&str])] = &[
        ("{not json", &["invalid JSON"]),
        (
            r#"{"kind":"gmm","weights":[1],"means":[[0,0,0]],"stds":[[1,1,1]]}"#,
            &["d = 2", "d = 3"],
        ),
        (
            r#"{"kind":"gmm","weights":[1,1],"means":[[0,0],[1,1]],"stds":[[1,1],[0,1]]}"#,
            &["std", "positive"],
        ),
        (
            r#"{"kind":"gmm","weights":[1,1],"means":[[0,0],[1,1]],"stds":[[1,1],[-1,1]]}"#,
            &["std", "positive"],
        ),
        (
            r#"{"kind":"gmm","weights":[1,0],"means":[[0,0],[1,1]],"stds":[[1,1],[1,1]]}"#,
            &["weight 0"],
        ),
        (
            r#"{"kind":"gmm","weights":[1,-2],"means":[[0,0],[1,1]],"stds":[[1,1],[1,1]]}"#,
            &["weight -2"],
        ),
        (
            r#"{"kind":"gmm","weights":[],"means":[],"stds":[]}"#,
            &["no components"],
        ),
        (
            r#"{"kind":"gmm","weights":[1,1],"means":[[0,0],[1]],"stds":[[1,1],[1]]}"#,
            &["component 1"],
        ),
    ];
    for (json, needles) in cases {
        let t = dir.write("t.json", json.as_bytes());
        fails(
            &stein(&["phi", "--target", &t, "--particles", &x, "--out", &o]),
            needles,
            &out,
        );
    }
    let missing = dir.s("missing.json");
    fails(
        &stein(&["phi", "--target", &missing, "--particles", &x, "--out", &o]),
        &["missing.json"],
        &out,
    );
}

#[test]
fn bad_particle_files_are_rejected() {
    let dir = Dir::new();
    let t = dir.write("t.json", MIX2.as_bytes());
    let out = dir.path("phi.npy");
    let o = out.display().to_string();
    let mut wrong_dtype = header("<i8", false, "(2, 2)");
    wrong_dtype.extend([0u8; 32]);
    let mut fortran = header("<f4", true, "(2, 2)");
    fortran.extend([0u8; 16]);
    let mut truncated = header("<f4", false, "(4, 2)");
    truncated.extend([0u8; 8]);
    let cases: Vec<(Vec<u8>, &[&str])> = vec![
        (encode_npy_f32(&[1.0, 2.0, 3.0], &[3]), &["reshape"]),
        (
            encode_npy_f32(&[1.0, 2.0, 3.0], &[3, 1]),
            &["d = 1", "d = 2"],
        ),
        (
            encode_npy_f32(&[1.0, f32::NAN, 3.0, 4.0], &[2, 2]),
            &["NaN"],
        ),
        (
            encode_npy_f32(&[1.0, f32::INFINITY, 3.0, 4.0], &[2, 2]),
            &["inf"],
        ),
        (encode_npy_f32(&[], &[0, 2]), &["no rows"]),
        (encode_npy_f32(&[], &[2, 0]), &["no columns"]),
        (wrong_dtype, &["<i8"]),
        (fortran, &["ascontiguousarray"]),
        (truncated, &["truncated"]),
        (b"not an npy file at all".to_vec(), &["npy"]),
    ];
    for (bytes, needles) in &cases {
        let x = dir.write("x.npy", bytes);
        fails(
            &stein(&["phi", "--target", &t, "--particles", &x, "--out", &o]),
            needles,
            &out,
        );
    }
    let missing = dir.s("nope.npy");
    fails(
        &stein(&["phi", "--target", &t, "--particles", &missing, "--out", &o]),
        &["nope.npy"],
        &out,
    );
}

#[test]
fn bad_run_options_are_rejected() {
    let dir = Dir::new();
    let t = dir.write("t.json", MIX2.as_bytes());
    let out = dir.path("final.npy");
    let o = out.display().to_string();
    let base = ["svgd", "--target", &t, "--out", &o, "--n", "10"];
    let cases: &[(&[&str], &[&str])] = &[
        (&["--steps", "0", "--step-size", "0.1"], &["--steps"]),
        (&["--steps", "10", "--step-size", "-1"], &["--step-size"]),
        (&["--steps", "10", "--step-size", "NaN"], &["--step-size"]),
        (&["--steps", "10", "--step-size", "0"], &["--step-size"]),
        (
            &["--steps", "10", "--step-size", "0.1", "--bandwidth", "wide"],
            &["--bandwidth"],
        ),
        (
            &["--steps", "10", "--step-size", "0.1", "--bandwidth", "-2"],
            &["--bandwidth"],
        ),
        (
            &[
                "--steps",
                "10",
                "--step-size",
                "0.1",
                "--optimizer",
                "lbfgs",
            ],
            &["--optimizer"],
        ),
        (
            &["--steps", "10", "--step-size", "0.1", "--init-std", "0"],
            &["--init-std"],
        ),
        (
            &[
                "--steps",
                "10",
                "--step-size",
                "0.1",
                "--init-mean",
                "1,2,3",
            ],
            &["--init-mean"],
        ),
        (
            &["--steps", "10", "--step-size", "0.1", "--ksd-every", "0"],
            &["--ksd-every"],
        ),
    ];
    for (extra, needles) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        fails(&stein(&args), needles, &out);
    }
    let o2 = dir.s("no/such/dir/final.npy");
    fails(
        &stein(&[
            "svgd",
            "--target",
            &t,
            "--out",
            &o2,
            "--n",
            "10",
            "--steps",
            "1",
            "--step-size",
            "0.1",
        ]),
        &["does not exist"],
        Path::new(&o2),
    );
    let o3 = dir.s("zero.npy");
    fails(
        &stein(&[
            "svgd",
            "--target",
            &t,
            "--out",
            &o3,
            "--n",
            "0",
            "--steps",
            "1",
            "--step-size",
            "0.1",
        ]),
        &["--n"],
        Path::new(&o3),
    );
    let t3 = dir.write(
        "t3.json",
        br#"{"kind":"gmm","weights":[1],"means":[[0,0,0]],"stds":[[1,1,1]]}"#,
    );
    let png = dir.path("p.png");
    fails(
        &stein(&[
            "svgd",
            "--target",
            &t3,
            "--out",
            &o,
            "--n",
            "10",
            "--steps",
            "1",
            "--step-size",
            "0.1",
            "--plot",
            &png.display().to_string(),
        ]),
        &["--plot", "d = 3"],
        &out,
    );
}

#[test]
fn sizes_over_the_adapter_limits_name_the_limit() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let t = dir.write("t.json", MIX2.as_bytes());
    let out = dir.path("final.npy");
    // 40 million 2-D particles: 320 MB of f32, over lavapipe's 128 MiB storage binding.
    let o = stein(&[
        "svgd",
        "--target",
        &t,
        "--out",
        &out.display().to_string(),
        "--n",
        "40000000",
        "--steps",
        "1",
        "--step-size",
        "0.1",
    ]);
    // lavapipe's storage binding limit (128 MiB) stops this; a GPU with a larger one stops it
    // at another named limit.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("max_"), "no limit named: {err}");
    fails(&o, &[], &out);
}

#[test]
fn svgd_cli_runs_traces_and_plots() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let t = dir.write("t.json", MIX2.as_bytes());
    let out = dir.s("final.npy");
    let png = dir.s("p.png");
    let trace = dir.s("trace");
    let o = stein(&[
        "svgd",
        "--target",
        &t,
        "--n",
        "50",
        "--init-mean",
        "0,0",
        "--init-std",
        "1",
        "--seed",
        "3",
        "--steps",
        "20",
        "--step-size",
        "0.05",
        "--out",
        &out,
        "--trace-every",
        "10",
        "--trace-dir",
        &trace,
        "--ksd-every",
        "10",
        "--plot",
        &png,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(v["ksd_trace"].as_array().unwrap().len(), 3);
    assert!(v["seconds_per_step"].as_f64().unwrap() > 0.0);
    assert!(Path::new(&png).exists() && Path::new(&out).exists());
    assert!(
        Path::new(&trace).join("step_000010.npy").exists()
            && Path::new(&trace).join("step_000020.npy").exists()
    );
}

#[test]
fn no_adapter_says_how_to_get_one() {
    // Hide every Vulkan driver from the loader and keep wgpu to Vulkan.
    let dir = Dir::new();
    let t = dir.write("t.json", MIX2.as_bytes());
    let x = dir.write("x.npy", &encode_npy_f32(&[0.0, 0.0, 1.0, 0.5], &[2, 2]));
    let out = dir.path("phi.npy");
    for args in [
        vec!["info"],
        vec![
            "phi",
            "--target",
            &t,
            "--particles",
            &x,
            "--out",
            &out.display().to_string(),
        ],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_stein"))
            .args(&args)
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
            .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
            .env("WGPU_BACKEND", "vulkan")
            .output()
            .unwrap();
        fails(&o, &["no GPU adapter", "mesa-vulkan-drivers"], &out);
    }
}

#[test]
fn argument_errors_are_one_line() {
    let dir = Dir::new();
    let out = dir.path("final.npy");
    for args in [
        vec!["svgd", "--steps", "abc"],
        vec!["phi"],
        vec!["frobnicate"],
    ] {
        fails(&stein(&args), &["see `stein --help`"], &out);
    }
}

/// clap's multi-line errors keep their substance on the one line: the missing arguments by
/// name, and a whole-number option given a negative says which numbers it takes.
#[test]
fn argument_errors_name_what_is_missing() {
    let dir = Dir::new();
    let out = dir.path("final.npy");
    let o = stein(&["svgd", "--target", "t.json", "--n", "10", "--steps", "3"]);
    fails(&o, &["were not provided", "--step-size", "--out"], &out);
    let o = stein(&[
        "svgd",
        "--target",
        "t.json",
        "--steps=-3",
        "--step-size",
        "1",
    ]);
    fails(&o, &["--steps", "not a whole number"], &out);
    // --generator draws x = G(z) in one pass: a --steps would be ignored.
    let o = stein(&[
        "sample",
        "--model",
        "m",
        "--generator",
        "--steps",
        "5",
        "--n",
        "4",
        "--out",
        &out.display().to_string(),
    ]);
    fails(&o, &["--generator", "--steps"], &out);
}

/// An output that names an input, or another output, is refused before anything is written;
/// so are a plot path that is not .png, a --trace-dir that is a file, and a fixed bandwidth
/// f32 cannot use.
#[test]
fn outputs_may_not_overwrite_inputs_or_each_other() {
    let dir = Dir::new();
    let t = dir.write("t.json", MIX2.as_bytes());
    let x = dir.write("x.npy", &encode_npy_f32(&[0.0, 0.0, 1.0, 0.5], &[2, 2]));
    let before = std::fs::read(&x).unwrap();
    let none = dir.path("none.npy");
    let o = stein(&["phi", "--target", &t, "--particles", &x, "--out", &x]);
    fails(&o, &["--out", "is also the --particles input"], &none);
    let o = stein(&["phi", "--target", &t, "--particles", &x, "--out", &t]);
    fails(&o, &["is also the --target input"], &none);
    assert_eq!(std::fs::read(&x).unwrap(), before);
    assert_eq!(std::fs::read_to_string(&t).unwrap(), MIX2);
    let out = dir.s("final.npy");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "svgd",
            "--target",
            &t,
            "--n",
            "50",
            "--steps",
            "2",
            "--step-size",
            "0.1",
        ];
        args.extend_from_slice(extra);
        stein(&args)
    };
    let png = dir.s("final.png");
    let o = run(&["--out", &png, "--plot", &png]);
    fails(
        &o,
        &["--plot", "is also the --out output"],
        dir.path("final.png").as_path(),
    );
    let o = run(&["--out", &out, "--init", &x, "--n", "2"]);
    assert_eq!(o.status.code(), Some(2));
    let o = stein(&[
        "svgd",
        "--target",
        &t,
        "--init",
        &x,
        "--steps",
        "2",
        "--step-size",
        "0.1",
        "--out",
        &x,
    ]);
    fails(&o, &["is also the --init input"], &none);
    let o = run(&["--out", &out, "--plot", &dir.s("p.jpg")]);
    fails(&o, &["--plot", ".png"], dir.path("final.npy").as_path());
    let o = run(&["--out", &out, "--trace-every", "1", "--trace-dir", &t]);
    fails(
        &o,
        &["--trace-dir", "is not a directory"],
        dir.path("final.npy").as_path(),
    );
    let phi = |bandwidth: &[&str]| {
        let mut args = vec!["phi", "--target", &t, "--particles", &x, "--out", &out];
        args.extend_from_slice(bandwidth);
        stein(&args)
    };
    let final_npy = dir.path("final.npy");
    let o = phi(&["--bandwidth", "-1"]);
    fails(&o, &["--bandwidth `-1`", "positive number"], &final_npy);
    let o = phi(&["--bandwidth=1e-300"]);
    fails(&o, &["--bandwidth 1e-300", "f32"], &final_npy);
}

/// A run that diverges says so in one line, exits with 3 (a diverged run, not a user error)
/// and leaves nothing: no --out, and the trace snapshots it wrote before the divergence
/// showed are removed with the trace directory it made.
#[test]
fn a_diverging_run_says_so_and_writes_nothing() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let t = dir.write("t.json", MIX2.as_bytes());
    let out = dir.path("final.npy");
    let trace = dir.path("trace");
    for n in ["300", "2100"] {
        let o = stein(&[
            "svgd",
            "--target",
            &t,
            "--n",
            n,
            "--steps",
            "50",
            "--step-size",
            "1e30",
            "--optimizer",
            "sgd",
            "--trace-every",
            "1",
            "--trace-dir",
            &trace.display().to_string(),
            "--out",
            &out.display().to_string(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(o.status.code(), Some(3), "stderr: {err}");
        assert!(lines.len() == 1 && lines[0].contains("diverged"), "{err}");
        assert!(!out.exists(), "{} was written", out.display());
        assert!(
            !trace.exists(),
            "{:?}",
            std::fs::read_dir(&trace).map(|d| d.count())
        );
    }
}

/// Sizes the device cannot hold are refused with the limit named before the host allocates
/// them (each of these aborted or panicked on a host allocation before), and options whose
/// host-side cost is unbounded are capped with a message. A training run that fails so,
/// after making its run directory, removes it (no checkpoint there to resume).
#[test]
fn oversized_options_are_refused_before_the_host_allocates() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let data = "../shared/data/digits8-train-images.npy";
    let run = dir.path("run");
    let r = run.display().to_string();
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--data", data, "--steps", "1"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", &r]);
        stein(&args)
    };
    let o = train(&["--hidden", "100000000"]);
    fails(&o, &["θ", "max_storage_buffer_binding_size"], &run);
    for batch in ["1000000000", "18446744073709551615"] {
        let o = train(&["--hidden", "4", "--batch", batch]);
        fails(&o, &["--batch", "max_storage_buffer_binding_size"], &run);
    }
    // (A SteinCD batch's median no longer sorts m² distances on the host: the batch median runs
    // on the device in O(m) memory, so `--batch` has no host cap left to refuse.)
    let o = train(&["--hidden", "4", "--k", "100000"]);
    fails(&o, &["--k 100000", "at most"], &run);
    for wd in ["--weight-decay=-1", "--weight-decay=nan"] {
        fails(&train(&["--hidden", "4", wd]), &["--weight-decay"], &run);
    }
    let json = dir.path("bench.json");
    let j = json.display().to_string();
    let o = stein(&[
        "bench",
        "--dims",
        "2",
        "--n-min",
        "549755813888",
        "--n-max",
        "1099511627776",
        "--json",
        &j,
    ]);
    fails(
        &o,
        &["n = 549755813888", "max_storage_buffer_binding_size"],
        &json,
    );
    let o = stein(&[
        "bench",
        "--dims",
        "18446744073709551615",
        "--n-min",
        "16",
        "--n-max",
        "16",
        "--json",
        &j,
    ]);
    fails(&o, &["max_storage_buffer_binding_size"], &json);
    let o = stein(&["bench", "--step-budget", "inf", "--json", &j]);
    fails(&o, &["--step-budget"], &json);
}

#[test]
fn train_and_eval_an_rbm_and_reject_bad_input() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let data = "../shared/data/digits8-train-images.npy";
    let run = dir.s("run");
    let o = stein(&[
        "train",
        "--data",
        data,
        "--hidden",
        "4",
        "--steps",
        "30",
        "--log-every",
        "10",
        "--out",
        &run,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = std::fs::read_to_string(Path::new(&run).join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3);
    let model = Path::new(&run).join("model.safetensors");
    let o = stein(&[
        "eval",
        "--model",
        &model.display().to_string(),
        "--data",
        data,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert!(v["loglik"].as_f64().unwrap().is_finite());
    // Bad input: data of another dimension, NaN, empty data, H too large for exact evaluation.
    let mnist = "../shared/data/mnist-valid-images.npy";
    let none = dir.path("none");
    fails(
        &stein(&[
            "eval",
            "--model",
            &model.display().to_string(),
            "--data",
            mnist,
        ]),
        &["d = 784", "d = 64"],
        &none,
    );
    let nan = dir.write(
        "nan.npy",
        &encode_npy_f32(&[1.0, f32::NAN, 0.0, 2.0], &[2, 2]),
    );
    let run2 = dir.path("run2");
    let r2 = run2.display().to_string();
    fails(
        &stein(&["train", "--data", &nan, "--steps", "5", "--out", &r2]),
        &["NaN"],
        &run2.join("model.safetensors"),
    );
    let empty = dir.write("empty.npy", &encode_npy_f32(&[], &[0, 3]));
    fails(
        &stein(&["train", "--data", &empty, "--steps", "5", "--out", &r2]),
        &["empty"],
        &run2.join("model.safetensors"),
    );
    fails(
        &stein(&[
            "train", "--data", data, "--valid", data, "--hidden", "21", "--steps", "5", "--out",
            &r2,
        ]),
        &["H <= 20", "stein eval --method ais"],
        &run2.join("model.safetensors"),
    );
}

#[test]
fn train_resumes_exactly_and_refuses_an_incompatible_run() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let data = "../shared/data/digits8-train-images.npy";
    let (a, b) = (dir.s("a"), dir.s("b"));
    let common = [
        "--data",
        data,
        "--hidden",
        "5",
        "--algo",
        "pcd",
        "--log-every",
        "10",
        "--checkpoint-every",
        "20",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = ["train"]
            .iter()
            .chain(common.iter())
            .chain(extra.iter())
            .copied()
            .collect();
        let o = stein(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["--steps", "40", "--out", &a]);
    run(&["--steps", "20", "--out", &b]);
    let o = stein(&["train", "--resume", &b, "--steps", "40"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |d: &str| std::fs::read(Path::new(d).join("model.safetensors")).unwrap();
    assert_eq!(
        read(&a),
        read(&b),
        "40 updates straight and 20 + 20 resumed differ"
    );
    let metrics = std::fs::read_to_string(Path::new(&b).join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
    // An edited configuration no longer matches the checkpoint.
    let cfg_path = Path::new(&b).join("config.json");
    let cfg = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("\"hidden\": 5", "\"hidden\": 6");
    std::fs::write(&cfg_path, cfg).unwrap();
    let before = read(&b);
    let o = stein(&["train", "--resume", &b, "--steps", "60"]);
    fails(&o, &["incompatible"], &dir.path("nothing"));
    assert_eq!(read(&b), before);
    fails(
        &stein(&["train", "--resume", &dir.s("nope")]),
        &["config.json"],
        &dir.path("nothing"),
    );
}

#[test]
fn energy_and_sample_from_a_trained_rbm() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let data = "../shared/data/digits8-train-images.npy";
    let run = dir.s("run");
    let o = stein(&[
        "train", "--data", data, "--hidden", "3", "--steps", "20", "--out", &run,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model = Path::new(&run)
        .join("model.safetensors")
        .display()
        .to_string();
    // f at a few points against the f64 reference with the file's θ.
    let t = stein::io::safetensors::Tensors::read(Path::new(&model)).unwrap();
    let mut theta: Vec<f64> = Vec::new();
    for k in ["B", "b", "c"] {
        theta.extend(t.tensors[k].1.iter().map(|&v| f64::from(v)));
    }
    let shape = stein::model::rbm::RbmShape { d: 64, h: 3 };
    let pts: Vec<f32> = (0..5 * 64).map(|i| ((i * 37) % 17) as f32 / 17.0).collect();
    let p = dir.write("p.npy", &encode_npy_f32(&pts, &[5, 64]));
    let f_out = dir.s("f.npy");
    let o = stein(&["energy", "--model", &model, "--points", &p, "--out", &f_out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = stein::io::npy::read_npy(Path::new(&f_out)).unwrap();
    let stein::io::npy::NpyData::F32(got) = got.data else {
        panic!("not f32")
    };
    let want = stein::cpu::rbm::energy(
        &theta,
        shape,
        &pts.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
    );
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (f64::from(*g) - w).abs() < 1e-4 * w.abs().max(1.0),
            "{g} vs {w}"
        );
    }
    for method in ["gibbs", "langevin", "svgd"] {
        let s_out = dir.s(&format!("{method}.npy"));
        let o = stein_gemm(&[
            "sample", "--model", &model, "--method", method, "--n", "50", "--steps", "20", "--out",
            &s_out,
        ]);
        assert!(
            o.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let a = stein::io::npy::read_npy(Path::new(&s_out)).unwrap();
        assert_eq!(a.shape, vec![50, 64]);
    }
    // An image grid of 8x8 digits; a shape that does not hold d pixels is refused up front.
    let png = dir.s("grid.png");
    let o = stein(&[
        "sample",
        "--model",
        &model,
        "--n",
        "10",
        "--steps",
        "2",
        "--out",
        &dir.s("g.npy"),
        "--grid",
        &png,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // An RBM's grid: 4 per row, 3 rows, 8x8 scaled by 11 to 88x88 between 2-pixel
    // separators, twice (the samples and their visible means), under the title, two lines of
    // notes and the grids' labels.
    let (w, h) = png_size(Path::new(&png));
    assert_eq!(h, 4 * 24 + 8 + 3 * 90 + 2);
    assert!(w >= 2 * (4 * 90 + 2) + 16, "{w}");
    fails(
        &stein(&[
            "sample",
            "--model",
            &model,
            "--n",
            "10",
            "--steps",
            "2",
            "--out",
            &dir.s("h.npy"),
            "--grid",
            &dir.s("h.png"),
            "--image-shape",
            "8x9",
        ]),
        &["--image-shape 8x9", "d = 64"],
        &dir.path("h.npy"),
    );
    let wrong = dir.write("w.npy", &encode_npy_f32(&[0.0; 6], &[2, 3]));
    fails(
        &stein(&[
            "energy",
            "--model",
            &model,
            "--points",
            &wrong,
            "--out",
            &dir.s("e.npy"),
        ]),
        &["d = 3", "d = 64"],
        &dir.path("e.npy"),
    );
    fails(
        &stein(&[
            "sample",
            "--model",
            &p,
            "--n",
            "5",
            "--steps",
            "2",
            "--out",
            &dir.s("s.npy"),
        ]),
        &["safetensors"],
        &dir.path("s.npy"),
    );
}

#[test]
fn train_reads_a_toml_config_and_the_command_line_wins() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let run = dir.s("run");
    let cfg = format!(
        "data = \"../shared/data/digits8-train-images.npy\"\nout = \"{run}\"\nhidden = 3\nalgo = \"pcd\"\nsteps = 10\nlog-every = 5\nlr = 1e-3\n"
    );
    let c = dir.write("run.toml", cfg.as_bytes());
    let o = stein(&["train", "--config", &c, "--steps", "15"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics = std::fs::read_to_string(Path::new(&run).join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        3,
        "steps 15 from the command line, logs every 5 from the file"
    );
    let config = std::fs::read_to_string(Path::new(&run).join("config.json")).unwrap();
    assert!(
        config.contains("\"algo\": \"pcd\"") && config.contains("\"lr\": 0.001"),
        "{config}"
    );
    let bad = dir.write("bad.toml", b"learning-rate = 0.1\n");
    fails(
        &stein(&["train", "--config", &bad]),
        &["unknown option `learning-rate`"],
        &dir.path("x"),
    );
    let bad = dir.write("bad2.toml", b"hidden = \"ten\"\n");
    fails(
        &stein(&["train", "--config", &bad]),
        &["`hidden` must be"],
        &dir.path("x"),
    );
}

/// `stein eval --method quadrature` (d <= 2) agrees with the exact RBM value on geyser.csv
/// (the shared run, [`geyser_run`]).
#[test]
fn eval_by_quadrature_matches_exact_on_geyser() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let data = GEYSER;
    let model = geyser_run().join("model.safetensors").display().to_string();
    let ll = |method: &str| {
        let o = stein(&[
            "eval",
            "--model",
            &model,
            "--data",
            data,
            "--standardize",
            "--method",
            method,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
        v["loglik"].as_f64().unwrap()
    };
    let (exact, quad) = (ll("exact"), ll("quadrature"));
    assert!(
        (exact - quad).abs() < 1e-4,
        "exact {exact}, quadrature {quad}"
    );
    fails(
        &stein(&[
            "eval", "--model", &model, "--data", data, "--method", "magic",
        ]),
        &["--method", "auto, exact, quadrature or ais"],
        &dir.path("none"),
    );
}

/// `stein eval --method ais` agrees with the exact RBM log-likelihood within its standard
/// error; an MLP model (d = 64) is evaluated by AIS under `auto`.
#[test]
fn eval_by_ais_matches_exact_and_covers_the_mlp() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let data = "../shared/data/digits8-train-images.npy";
    let run = dir.s("run");
    let o = stein(&[
        "train", "--data", data, "--hidden", "4", "--steps", "40", "--out", &run,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model = Path::new(&run)
        .join("model.safetensors")
        .display()
        .to_string();
    let eval = |model: &str, extra: &[&str]| {
        let mut args = vec!["eval", "--model", model, "--data", data];
        args.extend_from_slice(extra);
        let o = stein(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str::<serde_json::Value>(String::from_utf8_lossy(&o.stdout).trim())
            .unwrap()
    };
    let exact = eval(&model, &[])["loglik"].as_f64().unwrap();
    let ais = eval(
        &model,
        &[
            "--method",
            "ais",
            "--ais-runs",
            "8",
            "--ais-chains",
            "25",
            "--ais-temperatures",
            "300",
        ],
    );
    let (ll, se) = (
        ais["loglik"].as_f64().unwrap(),
        ais["std_err"].as_f64().unwrap(),
    );
    assert!(
        (ll - exact).abs() < 4.0 * se + 0.05,
        "AIS {ll} ± {se} against exact {exact}"
    );
    let mrun = dir.s("mlp");
    let o = stein(&[
        "train",
        "--model",
        "mlp",
        "--widths",
        "16",
        "--data",
        data,
        "--algo",
        "cd",
        "--sampler",
        "langevin",
        "--steps",
        "20",
        "--out",
        &mrun,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mmodel = Path::new(&mrun)
        .join("model.safetensors")
        .display()
        .to_string();
    let v = eval(
        &mmodel,
        &[
            "--ais-runs",
            "4",
            "--ais-chains",
            "25",
            "--ais-temperatures",
            "100",
        ],
    );
    assert_eq!(v["method"], "ais");
    assert!(v["loglik"].as_f64().unwrap().is_finite());
    // Gibbs sampling and exact evaluation are refused for the MLP, in one line.
    fails(
        &stein(&[
            "eval", "--model", &mmodel, "--data", data, "--method", "exact",
        ]),
        &["--method exact needs an RBM"],
        &dir.path("none"),
    );
}

/// `--epochs E` trains ⌈E·N/batch⌉ updates (the shared geyser run, [`geyser_run`]: 299
/// rows, E = 8, batch 50: 47.84, so 48).
#[test]
fn train_epochs_sets_the_update_count() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let m = std::fs::read_to_string(geyser_run().join("metrics.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(m.lines().last().unwrap()).unwrap();
    assert_eq!(v["step"], 48);
    fails(
        &stein(&[
            "train",
            "--data",
            "../shared/data/geyser.csv",
            "--epochs",
            "1",
            "--steps",
            "5",
            "--out",
            &dir.s("r2"),
        ]),
        &["--epochs"],
        &dir.path("r2"),
    );
    // Training data of an unsupported dtype.
    let mut ints = header("<i8", false, "(2, 2)");
    ints.extend([0u8; 32]);
    let ints = dir.write("ints.npy", &ints);
    fails(
        &stein(&[
            "train",
            "--data",
            &ints,
            "--steps",
            "2",
            "--out",
            &dir.s("r3"),
        ]),
        &["<i8"],
        &dir.path("r3"),
    );
}

/// Mean and per-coordinate standard deviation of `[n, 2]` rows.
fn moments2(x: &[f32]) -> ([f64; 2], [f64; 2]) {
    let n = (x.len() / 2) as f64;
    let mut mean = [0.0; 2];
    let mut sd = [0.0; 2];
    for a in 0..2 {
        mean[a] = x
            .iter()
            .skip(a)
            .step_by(2)
            .map(|&v| f64::from(v))
            .sum::<f64>()
            / n;
        sd[a] = (x
            .iter()
            .skip(a)
            .step_by(2)
            .map(|&v| (f64::from(v) - mean[a]).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
    }
    (mean, sd)
}

#[test]
fn stein_gan_trains_a_generator_resumes_exactly_and_rejects_bad_input() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let common = [
        "train",
        "--data",
        "ring8",
        "--model",
        "mlp",
        "--algo",
        "stein-gan",
        "--nz",
        "4",
        "--gen-widths",
        "32,32",
        "--lr",
        "1e-3",
        "--log-every",
        "100",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = common.iter().chain(extra.iter()).copied().collect();
        let o = stein(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let sample = |run: &str, name: &str| -> Vec<f32> {
        let out = dir.s(name);
        let model = Path::new(run).join("generator.safetensors");
        let o = stein(&[
            "sample",
            "--model",
            &model.display().to_string(),
            "--generator",
            "--n",
            "500",
            "--out",
            &out,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (x, n, d) = stein::io::npy::read_matrix_f32(Path::new(&out), "samples").unwrap();
        assert_eq!((n, d), (500, 2));
        x
    };
    // One update barely moves η; 600 updates must bring the samples' mean and spread toward
    // the ring's (mean 0, per-coordinate sd ≈ 1.45).
    let (r1, r600) = (dir.s("r1"), dir.s("r600"));
    run(&["--steps", "1", "--out", &r1]);
    run(&["--steps", "600", "--out", &r600]);
    let data = stein::io::data::load_data(Path::new("ring8"), Default::default()).unwrap();
    let (dm, ds) = moments2(&data.x);
    let score = |x: &[f32]| {
        let (m, s) = moments2(x);
        let mean_err = ((m[0] - dm[0]).powi(2) + (m[1] - dm[1]).powi(2)).sqrt();
        let sd_err = (s[0] - ds[0]).abs() + (s[1] - ds[1]).abs();
        (mean_err, sd_err)
    };
    let (m1, s1) = score(&sample(&r1, "s1.npy"));
    let (m600, s600) = score(&sample(&r600, "s600.npy"));
    assert!(
        m600 < m1 && s600 < 0.6 * s1,
        "untrained: mean off by {m1:.3}, sd off by {s1:.3}; trained: {m600:.3}, {s600:.3}"
    );
    // Resume: 20 + 20 updates equal 40 straight, energy and generator.
    let (a, b) = (dir.s("a"), dir.s("b"));
    let ck = [
        "--checkpoint-every",
        "20",
        "--kernel",
        "rbf",
        "--phi-norm",
        "rowsum",
    ];
    run(&[&ck[..], &["--steps", "40", "--out", &a]].concat());
    run(&[&ck[..], &["--steps", "20", "--out", &b]].concat());
    let o = stein(&["train", "--resume", &b, "--steps", "40"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["model.safetensors", "generator.safetensors"] {
        let read = |d: &str| std::fs::read(Path::new(d).join(f)).unwrap();
        assert_eq!(
            read(&a),
            read(&b),
            "{f}: 40 straight and 20 + 20 resumed differ"
        );
    }
    // The hybrid (both energy models) and the kernel-free ablation run.
    let h = dir.s("h");
    let o = stein(&[
        "train",
        "--data",
        "ring8",
        "--model",
        "mlp",
        "--algo",
        "hybrid",
        "--mix-prob",
        "0.3",
        "--nz",
        "3",
        "--gen-widths",
        "8",
        "--steps",
        "20",
        "--out",
        &h,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(Path::new(&h).join("generator.safetensors").is_file());
    let data8 = "../shared/data/digits8-train-images.npy";
    let h2 = dir.s("h2");
    let o = stein_gemm(&[
        "train",
        "--data",
        data8,
        "--hidden",
        "4",
        "--algo",
        "hybrid",
        "--gen-output",
        "sigmoid",
        "--nz",
        "5",
        "--gen-widths",
        "16",
        "--steps",
        "10",
        "--out",
        &h2,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g = dir.s("g.npy");
    let o = stein(&[
        "sample",
        "--model",
        &Path::new(&h2)
            .join("model.safetensors")
            .display()
            .to_string(),
        "--generator",
        "--n",
        "7",
        "--out",
        &g,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (x, n, d) = stein::io::npy::read_matrix_f32(Path::new(&g), "samples").unwrap();
    assert_eq!((n, d), (7, 64));
    assert!(
        x.iter().all(|&v| v > 0.0 && v < 1.0),
        "sigmoid output outside (0, 1)"
    );
    let nk = dir.s("nk");
    run(&["--kernel", "none", "--steps", "10", "--out", &nk]);
    // Bad input: one line, exit code 2, no run directory.
    let bad = dir.path("bad");
    let bs = bad.display().to_string();
    for (extra, needle) in [
        (&["--algo", "hybrid", "--mix-prob", "1.5"][..], "--mix-prob"),
        (&["--algo", "stein-gan", "--nz", "0"][..], "--nz"),
        (
            &["--algo", "stein-gan", "--gen-output", "relu"][..],
            "identity or sigmoid",
        ),
        (
            &[
                "--algo",
                "stein-gan",
                "--kernel",
                "none",
                "--phi-norm",
                "rowsum",
            ][..],
            "--kernel rbf",
        ),
        (&["--bandwidth", "median-sampled"][..], "exact median"),
    ] {
        let args: Vec<&str> = ["train", "--data", "ring8", "--out", &bs]
            .iter()
            .chain(extra.iter())
            .copied()
            .collect();
        fails(&stein(&args), &[needle], &bad);
    }
    fails(
        &stein(&[
            "sample",
            "--model",
            &Path::new(&r1)
                .join("model.safetensors")
                .display()
                .to_string(),
            "--generator",
            "--n",
            "0",
            "--out",
            &dir.s("none.npy"),
        ]),
        &["--n"],
        &dir.path("none.npy"),
    );
}

/// Issue 4 bad input: a generator asked of a run that trained none (the shared geyser run,
/// [`geyser_run`]), and samples (e.g. a generator's) whose dimension differs from the
/// energy's data.
#[test]
fn generator_of_a_plain_run_and_mismatched_samples_are_refused() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let data = GEYSER;
    let model = geyser_run().join("model.safetensors").display().to_string();
    fails(
        &stein(&[
            "sample",
            "--model",
            &model,
            "--generator",
            "--n",
            "5",
            "--out",
            &dir.s("s.npy"),
        ]),
        &["not a generator"],
        &dir.path("s.npy"),
    );
    let three = dir.write("three.npy", &encode_npy_f32(&[0.5; 9], &[3, 3]));
    fails(
        &stein(&[
            "eval",
            "--model",
            &model,
            "--data",
            data,
            "--standardize",
            "--samples",
            &three,
        ]),
        &["d = 3", "d = 2"],
        &dir.path("none"),
    );
}

/// `--grid-every K`: generator and Langevin grids every K updates for image data; refused up
/// front (no run directory) when d is not an image.
#[test]
fn train_writes_sample_grids_every_k_updates() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let run = dir.s("run");
    let o = stein(&[
        "train",
        "--data",
        "../shared/data/digits8-train-images.npy",
        "--hidden",
        "4",
        "--algo",
        "stein-gan",
        "--gen-output",
        "sigmoid",
        "--nz",
        "5",
        "--gen-widths",
        "16",
        "--steps",
        "10",
        "--grid-every",
        "5",
        "--out",
        &run,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for step in [5, 10] {
        for kind in ["generator", "langevin"] {
            let p = Path::new(&run).join(format!("grids/step_{step:07}_{kind}.png"));
            // 64 images of 8x8 scaled by 11: 8 per row, 90 px cells with their separators;
            // the RBM's Langevin grid beside its visible means, with two lines of notes.
            let (w, h) = png_size(&p);
            let (grids, lines) = if kind == "langevin" { (2, 4) } else { (1, 1) };
            let side = 8 * 90 + 2;
            assert_eq!(h, lines * 24 + 8 + side, "{}", p.display());
            assert!(w >= grids * side + (grids - 1) * 16, "{}", p.display());
        }
    }
    fails(
        &stein(&[
            "train",
            "--data",
            "../shared/data/geyser.csv",
            "--grid-every",
            "5",
            "--steps",
            "5",
            "--out",
            &dir.s("g"),
        ]),
        &["--grid-every", "--image-shape"],
        &dir.path("g"),
    );
}

/// `stein bench` on a tiny sweep: the table and the JSON name the adapter and, per row, the φ
/// kernel that ran; every row was checked against the f64 reference before it was timed.
#[test]
fn bench_writes_json_naming_adapter_and_kernels() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = Dir::new();
    let json = dir.s("bench.json");
    let o = stein(&[
        "bench",
        "--phi-only",
        "--dims",
        "2,9",
        "--n-min",
        "64",
        "--n-max",
        "128",
        "--json",
        &json,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("svgd_phi_small"), "{table}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("bench JSON")).unwrap();
    assert!(!v["adapter"].as_str().unwrap().is_empty());
    let peak = &v["madd_peak"];
    assert!(peak["madds_per_second"].as_f64().unwrap() > 0.0, "{peak}");
    assert!(peak["check_max_rel_err"].as_f64().unwrap() < 1e-4, "{peak}");
    assert!(table.contains("multiply-add ceiling"), "{table}");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in rows {
        assert!(r["pairs_per_second"].as_f64().unwrap() > 0.0, "{r}");
        let share = r["of_madd_peak"].as_f64().unwrap();
        let d = r["d"].as_f64().unwrap();
        let ceiling = r["madd_peak_per_second"].as_f64().unwrap();
        assert!(ceiling > 0.0, "{r}");
        let want = r["pairs_per_second"].as_f64().unwrap() * 2.0 * d / ceiling;
        assert!((share - want).abs() <= 1e-12 * want, "{r}");
        assert!(r["check_max_rel_err"].as_f64().unwrap() < 1e-3, "{r}");
        let kernel = r["phi_kernel"].as_str().unwrap();
        let want_small = r["d"] == 2;
        assert_eq!(kernel == "svgd_phi_small", want_small, "{r}");
        assert!(kernel.starts_with("svgd_phi_"), "{r}");
    }
}
