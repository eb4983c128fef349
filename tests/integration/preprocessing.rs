//! The data transform travels with the model (issue 18, finding 4): `stein eval`, `energy`
//! and `sample` apply the u8 scale and the training statistics stored in the model file,
//! samples come back in the data's units, and data of the wrong scale is refused.

use std::path::{Path, PathBuf};
use std::process::Output;

use stein::io::npy::{encode_npy_f32, read_npy, NpyData};
use stein::io::safetensors::Tensors;

use super::common::{gpu, stein};

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Asserts exit code 2 and one line on stderr containing every `needle`.
fn refused(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{}` lacks `{n}`", lines[0]);
    }
}

fn loglik(o: &Output) -> f64 {
    let v: serde_json::Value = serde_json::from_str(&ok(o)).unwrap();
    v["loglik"].as_f64().unwrap()
}

fn f32s(path: &Path) -> Vec<f32> {
    match read_npy(path).unwrap().data {
        NpyData::F32(v) => v,
        _ => panic!("{} is not f32", path.display()),
    }
}

fn u8_npy(bytes: &[u8], n: usize, d: usize) -> Vec<u8> {
    let mut h = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    b.extend(bytes);
    b
}

/// A run directory for one process under `CARGO_TARGET_TMPDIR` (those over an hour old
/// are removed).
fn fresh_dir(prefix: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let stale = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| {
            t.elapsed()
                .is_ok_and(|age| age > std::time::Duration::from_secs(3600))
        });
        if stale && e.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let dir = tmp.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The standardised geyser run the tests below share: an RBM (H = 3, 20 updates) on the
/// first 249 rows of geyser.csv (`train.csv`) with `--standardize`, validated on the last 50
/// (`valid.csv`). Returns the directory holding both files and the run (`run/`).
fn geyser_split_run() -> &'static Path {
    static RUN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let dir = fresh_dir("preprocessing-geyser-");
        let text = std::fs::read_to_string("../shared/data/geyser.csv").unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let (header, rows) = (lines[0], &lines[1..]);
        assert_eq!(rows.len(), 299);
        for (name, part) in [("train.csv", &rows[..249]), ("valid.csv", &rows[249..])] {
            let body: Vec<&str> = std::iter::once(header)
                .chain(part.iter().copied())
                .collect();
            std::fs::write(dir.join(name), body.join("\n") + "\n").unwrap();
        }
        let s = |name: &str| dir.join(name).display().to_string();
        ok(&stein(&[
            "train",
            "--data",
            &s("train.csv"),
            "--valid",
            &s("valid.csv"),
            "--standardize",
            "--hidden",
            "3",
            "--steps",
            "20",
            "--batch",
            "50",
            "--log-every",
            "20",
            "--out",
            &s("run"),
        ]));
        dir
    })
}

/// Rows of a CSV with a header, as f32 (what the reader makes of them).
fn csv_rows(path: &Path) -> Vec<f32> {
    stein::io::data::load_data(path, Default::default())
        .unwrap()
        .x
}

/// The run's transform from config.json: per column (mean, std).
fn stats(run: &Path) -> Vec<(f64, f64)> {
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let s = &config["transform"]["standardize"];
    let col = |k: &str| -> Vec<f64> {
        s[k].as_array()
            .unwrap_or_else(|| panic!("config.json lacks transform.standardize.{k}: {config}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    col("mean").into_iter().zip(col("std")).collect()
}

/// Finding 4: `stein eval` on the validation file gives the training-time validation
/// log-likelihood exactly, with the training statistics stored in the model (no flag needed;
/// `--standardize` is redundant), where it used the evaluation file's own statistics. The
/// statistics are the training rows', in config.json and in the metadata of the model and
/// checkpoint files.
#[test]
fn eval_uses_the_training_statistics_stored_with_the_model() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = geyser_split_run();
    let run = dir.join("run");
    let model = run.join("model.safetensors").display().to_string();
    let valid = dir.join("valid.csv").display().to_string();
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    let trained = last["valid_loglik"].as_f64().unwrap();
    let plain = loglik(&stein(&["eval", "--model", &model, "--data", &valid]));
    assert_eq!(
        plain, trained,
        "eval against the training-time validation LL"
    );
    let flagged = loglik(&stein(&[
        "eval",
        "--model",
        &model,
        "--data",
        &valid,
        "--standardize",
    ]));
    assert_eq!(flagged, trained, "--standardize is redundant");
    // The statistics are the training rows' (population std), stored alike everywhere.
    let x = csv_rows(&dir.join("train.csv"));
    let st = stats(&run);
    for (a, (mean, std)) in st.iter().enumerate() {
        let col: Vec<f64> = x.iter().skip(a).step_by(2).map(|&v| f64::from(v)).collect();
        let m = col.iter().sum::<f64>() / col.len() as f64;
        let s = (col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
        assert!(
            (mean - m).abs() <= 1e-12 * m.abs() && (std - s).abs() <= 1e-12 * s,
            "column {a}: stored ({mean}, {std}), training rows ({m}, {s})"
        );
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    for file in ["model.safetensors", "checkpoint.safetensors"] {
        let t = Tensors::read(&run.join(file)).unwrap();
        let meta: serde_json::Value = serde_json::from_str(&t.metadata["transform"]).unwrap();
        assert_eq!(meta, config["transform"], "{file}");
    }
    // Values already in the model's units pass as they are.
    let mut z = csv_rows(&dir.join("valid.csv"));
    for (e, v) in z.iter_mut().enumerate() {
        let (m, s) = st[e % 2];
        *v = ((f64::from(*v) - m) / s) as f32;
    }
    let zp = dir.join("valid-standardised.npy");
    std::fs::write(&zp, encode_npy_f32(&z, &[50, 2])).unwrap();
    let zs = zp.display().to_string();
    let model_units = loglik(&stein(&[
        "eval", "--model", &model, "--data", &zs, "--units", "model",
    ]));
    assert_eq!(model_units, trained);
    refused(
        &stein(&[
            "eval",
            "--model",
            &model,
            "--data",
            &zs,
            "--units",
            "model",
            "--standardize",
        ]),
        &["--standardize", "--units model"],
    );
}

/// Finding 4: samples and the run's sample files are in the data's units, so they map back:
/// `stein sample` writes x · std + mean of what `--units model` writes; `stein energy` takes
/// points in the data's units; model_samples.npy lies among the data, not around 0.
#[test]
fn samples_and_energies_are_in_the_data_units() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = geyser_split_run();
    let run = dir.join("run");
    let model = run.join("model.safetensors").display().to_string();
    let st = stats(&run);
    let out = |name: &str| dir.join(name).display().to_string();
    let sample = |units: &str, name: &str| {
        ok(&stein(&[
            "sample",
            "--model",
            &model,
            "--method",
            "langevin",
            "--n",
            "64",
            "--steps",
            "20",
            "--units",
            units,
            "--out",
            &out(name),
        ]));
        f32s(&dir.join(name))
    };
    let (data_units, model_units) = (sample("data", "s-data.npy"), sample("model", "s-model.npy"));
    let default = {
        ok(&stein(&[
            "sample",
            "--model",
            &model,
            "--method",
            "langevin",
            "--n",
            "64",
            "--steps",
            "20",
            "--out",
            &out("s-default.npy"),
        ]));
        f32s(&dir.join("s-default.npy"))
    };
    assert_eq!(default, data_units, "the data's units by default");
    let mapped: Vec<f32> = model_units
        .iter()
        .enumerate()
        .map(|(e, &v)| {
            let (m, s) = st[e % 2];
            (f64::from(v) * s + m) as f32
        })
        .collect();
    assert_eq!(data_units, mapped);
    // The MMD² of `stein eval --samples` is taken in the model's units, both sides
    // transformed alike: the same (up to rounding) from either units.
    let v = csv_rows(&dir.join("valid.csv"));
    let vz: Vec<f32> = v
        .iter()
        .enumerate()
        .map(|(e, &x)| {
            let (m, s) = st[e % 2];
            ((f64::from(x) - m) / s) as f32
        })
        .collect();
    std::fs::write(dir.join("vz.npy"), encode_npy_f32(&vz, &[50, 2])).unwrap();
    let mmd2 = |data: &str, samples: &str, units: &str| {
        let o = stein(&[
            "eval",
            "--model",
            &model,
            "--data",
            &out(data),
            "--samples",
            &out(samples),
            "--units",
            units,
        ]);
        let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
        v["mmd2"]["mmd2"].as_f64().unwrap()
    };
    let (a, b) = (
        mmd2("valid.csv", "s-data.npy", "data"),
        mmd2("vz.npy", "s-model.npy", "model"),
    );
    assert!(
        (a - b).abs() < 1e-4,
        "MMD² {a} in data units, {b} in model units"
    );
    // The run's SVGD samples (density.png) are in the data's units: their column means lie
    // within the data's range (waiting 43–96 min, duration 1.6–5.5 min), not near 0.
    let ms = f32s(&run.join("model_samples.npy"));
    let x = csv_rows(&dir.join("train.csv"));
    for a in 0..2 {
        let col = |v: &[f32]| -> Vec<f64> {
            v.iter().skip(a).step_by(2).map(|&v| f64::from(v)).collect()
        };
        let data = col(&x);
        let (lo, hi) = data
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let mean = col(&ms).iter().sum::<f64>() / 500.0;
        assert!(
            lo < mean && mean < hi,
            "model_samples.npy column {a} has mean {mean}, outside the data's [{lo}, {hi}]"
        );
    }
    // f at points in the data's units equals f at the same points standardised.
    let pts = &csv_rows(&dir.join("valid.csv"))[..20];
    std::fs::write(dir.join("p.npy"), encode_npy_f32(pts, &[10, 2])).unwrap();
    let z: Vec<f32> = pts
        .iter()
        .enumerate()
        .map(|(e, &v)| {
            let (m, s) = st[e % 2];
            ((f64::from(v) - m) / s) as f32
        })
        .collect();
    std::fs::write(dir.join("pz.npy"), encode_npy_f32(&z, &[10, 2])).unwrap();
    let energy = |points: &str, units: &str, name: &str| {
        ok(&stein(&[
            "energy",
            "--model",
            &model,
            "--points",
            &out(points),
            "--units",
            units,
            "--out",
            &out(name),
        ]));
        f32s(&dir.join(name))
    };
    assert_eq!(
        energy("p.npy", "data", "f-data.npy"),
        energy("pz.npy", "model", "f-model.npy")
    );
}

/// A model file written before models carried their transform (no `transform` metadata)
/// works as before: the identity, `eval --standardize` with the data's own statistics.
#[test]
fn model_files_without_a_transform_work_as_before() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = geyser_split_run();
    let mut t = Tensors::read(&dir.join("run/model.safetensors")).unwrap();
    t.metadata.remove("transform");
    let old = dir.join("old-model.safetensors");
    t.write(&old).unwrap();
    let old = old.display().to_string();
    let valid = dir.join("valid.csv").display().to_string();
    let own = loglik(&stein(&[
        "eval",
        "--model",
        &old,
        "--data",
        &valid,
        "--standardize",
    ]));
    let own_stats = stein::io::data::load_data(
        &dir.join("valid.csv"),
        stein::io::data::DataOptions {
            standardize: true,
            ..Default::default()
        },
    )
    .unwrap();
    std::fs::write(dir.join("own.npy"), encode_npy_f32(&own_stats.x, &[50, 2])).unwrap();
    let own_npy = dir.join("own.npy").display().to_string();
    assert_eq!(
        own,
        loglik(&stein(&["eval", "--model", &old, "--data", &own_npy]))
    );
    let s = |units: &str, name: &str| {
        let p = dir.join(name);
        ok(&stein(&[
            "sample",
            "--model",
            &old,
            "--method",
            "langevin",
            "--n",
            "8",
            "--steps",
            "5",
            "--units",
            units,
            "--out",
            &p.display().to_string(),
        ]));
        f32s(&p)
    };
    assert_eq!(s("data", "old-d.npy"), s("model", "old-m.npy"));
}

/// Finding 4: u8 data of the wrong scale is refused, where `eval --raw-u8` on a model
/// trained on u8 data divided by 255 returned 0 with a log-likelihood of −2.8e6. A model
/// trained with --raw-u8 reads u8 data raw by itself.
#[test]
fn u8_scale_mismatches_are_refused() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let (n, d) = (64, 4);
    let bytes: Vec<u8> = (0..n * d)
        .map(|i| ((i * 97 + i / d * 31) % 256) as u8)
        .collect();
    std::fs::write(p("u8.npy"), u8_npy(&bytes, n, d)).unwrap();
    let unit: Vec<f32> = bytes
        .iter()
        .map(|&b| f32::from(b) * (1.0 / 255.0))
        .collect();
    std::fs::write(p("unit.npy"), encode_npy_f32(&unit, &[n, d])).unwrap();
    let raw: Vec<f32> = bytes.iter().map(|&b| f32::from(b)).collect();
    std::fs::write(p("raw.npy"), encode_npy_f32(&raw, &[n, d])).unwrap();
    let train = |extra: &[&str], out: &str| {
        let (data, o) = (p("u8.npy"), p(out));
        let mut args = vec![
            "train", "--data", &data, "--hidden", "2", "--steps", "5", "--batch", "16",
        ];
        args.extend(extra);
        args.extend(["--out", &o]);
        ok(&stein(&args));
        p(&format!("{out}/model.safetensors"))
    };
    let m = train(&[], "unit-run");
    let eval = |model: &str, data: &str, extra: &[&str]| {
        let mut args = vec!["eval", "--model", model, "--data", data];
        args.extend(extra);
        stein(&args)
    };
    let ll = loglik(&eval(&m, &p("u8.npy"), &[]));
    assert_eq!(
        ll,
        loglik(&eval(&m, &p("unit.npy"), &[])),
        "u8/255 as floats"
    );
    refused(
        &eval(&m, &p("u8.npy"), &["--raw-u8"]),
        &["--raw-u8", "divided by 255"],
    );
    refused(
        &eval(&m, &p("raw.npy"), &[]),
        &["raw.npy", "divide the data by 255"],
    );
    refused(
        &eval(&m, &p("u8.npy"), &["--standardize"]),
        &["--standardize", "unstandardised"],
    );
    refused(
        &stein(&[
            "energy",
            "--model",
            &m,
            "--points",
            &p("raw.npy"),
            "--out",
            &p("f.npy"),
        ]),
        &["divide the data by 255"],
    );
    assert!(!dir.path().join("f.npy").exists());
    let r = train(&["--raw-u8"], "raw-run");
    let ll_raw = loglik(&eval(&r, &p("u8.npy"), &["--raw-u8"]));
    assert_eq!(
        ll_raw,
        loglik(&eval(&r, &p("u8.npy"), &[])),
        "raw by itself"
    );
    assert_eq!(ll_raw, loglik(&eval(&r, &p("raw.npy"), &[])));
    refused(
        &eval(&r, &p("unit.npy"), &[]),
        &["unit.npy", "multiply the data by 255"],
    );
}

/// A resumed run recomputes its transform from the data and refuses to continue when the
/// data file changed under it (other statistics), instead of going on in other units.
#[test]
fn resume_refuses_data_whose_statistics_changed() {
    if gpu().unwrap().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    let rows = |shift: f64| -> String {
        let body: Vec<String> = (0..40)
            .map(|i| {
                let i = f64::from(i);
                format!("{},{},{}", i + shift, (i * 7.0) % 11.0, (i * 3.0) % 5.0)
            })
            .collect();
        format!("a,b,c\n{}\n", body.join("\n"))
    };
    std::fs::write(&data, rows(0.0)).unwrap();
    let run = dir.path().join("run").display().to_string();
    let d = data.display().to_string();
    ok(&stein(&[
        "train",
        "--data",
        &d,
        "--standardize",
        "--hidden",
        "2",
        "--steps",
        "4",
        "--batch",
        "10",
        "--checkpoint-every",
        "2",
        "--out",
        &run,
    ]));
    let model = std::fs::read(dir.path().join("run/model.safetensors")).unwrap();
    std::fs::write(&data, rows(100.0)).unwrap();
    refused(
        &stein(&["train", "--resume", &run, "--steps", "8"]),
        &["--resume", "transform"],
    );
    assert_eq!(
        std::fs::read(dir.path().join("run/model.safetensors")).unwrap(),
        model
    );
    std::fs::write(&data, rows(0.0)).unwrap();
    ok(&stein(&["train", "--resume", &run, "--steps", "8"]));
}
