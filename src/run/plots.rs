//! The pictures of whole runs: a training run's curves (`curves.png`, from its `metrics.jsonl`)
//! and a benchmark sweep's speed against n (from `stein bench`'s JSON and the peers' JSON that
//! `tools/` writes). The drawing itself is [`crate::io::plot`].
//!
//! ```no_run
//! use std::path::Path;
//! use stein::run::plots::plot_run_curves;
//!
//! # fn main() -> anyhow::Result<()> {
//! // A run still training may be drawn: this only reads its files.
//! let run = Path::new("runs/ring8");
//! plot_run_curves(run, Path::new("ring8-now.png"))?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::io::plot::{plot_panels, Corner, Line, Panel};

/// The picture of a run's curves in its directory, rewritten at each log step.
pub const CURVES: &str = "curves.png";

/// Size of the curves picture.
const CURVES_SIZE: (u32, u32) = (1100, 840);

/// Size of the benchmark's picture.
const BENCH_SIZE: (u32, u32) = (1400, 640);

/// The model and the algorithm of a run, from its `config.json`: `GRBM (H = 8), stein-cd`.
pub fn run_label(config: &Value) -> String {
    let train = &config["train"];
    let algo = train["algo"].as_str().unwrap_or("?");
    let model = match config["model"].as_str() {
        Some("mlp") => {
            let widths: Vec<String> = config["widths"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .map(|w| w.to_string())
                .collect();
            format!("MLP energy ({})", widths.join("-"))
        }
        _ => format!("GRBM (H = {})", train["hidden"].as_u64().unwrap_or(0)),
    };
    format!("{model}, {algo}")
}

/// One metric's panel: its key in `metrics.jsonl`, its caption and its y label.
const METRICS: [(&str, &str, &str); 4] = [
    (
        "energy_gap",
        "energy gap: mean f(x⁺) − mean f(x⁻) of the update's batches",
        "energy gap",
    ),
    (
        "grad_norm",
        "gradient norm ‖direction‖₂ (before Adam)",
        "‖direction‖₂",
    ),
    (
        "valid_loglik",
        "validation log-likelihood (mean, model units)",
        "log-likelihood",
    ),
    ("mmd2", "MMD² of model samples against the data", "MMD²"),
];

/// Draws the curves of the run in `dir` into `out`: the energy gap and the gradient norm, and
/// the validation log-likelihood and MMD² where the run logged them, against the update. Only
/// reads the run, so a run still training may be drawn: an unfinished last line of its
/// metrics is left out.
pub fn plot_run_curves(dir: &Path, out: &Path) -> Result<()> {
    let config_path = dir.join("config.json");
    let config: Value = match std::fs::read_to_string(&config_path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not the JSON a run writes; is {} a run directory?",
                config_path.display(),
                dir.display()
            )
        })?,
        Err(_) if !dir.is_dir() => bail!(
            "{} is not a directory; give a run directory written by `stein train`",
            dir.display()
        ),
        Err(_) => bail!(
            "{} holds no run (it has no config.json); give a run directory written by `stein train`",
            dir.display()
        ),
    };
    let metrics: Vec<Value> = std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["step"].is_u64())
        .collect();
    let series = |key: &str| -> Vec<(f64, f64)> {
        metrics
            .iter()
            .filter_map(|m| Some((m["step"].as_u64()? as f64, m[key].as_f64()?)))
            .collect()
    };
    let panels: Vec<Panel> = METRICS
        .iter()
        .enumerate()
        .filter_map(|(k, (key, caption, y_label))| {
            let points = series(key);
            // The energy gap and the gradient norm always; the others where logged.
            if k >= 2 && points.is_empty() {
                return None;
            }
            let positive = !points.is_empty() && points.iter().all(|p| p.1 > 0.0);
            let (lo, hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
                (lo.min(p.1.abs()), hi.max(p.1.abs()))
            });
            Some(Panel {
                caption: caption.to_string(),
                x_label: "update".into(),
                y_label: y_label.to_string(),
                log_x: false,
                log_y: positive && hi > 100.0 * lo,
                lines: vec![Line {
                    label: String::new(),
                    points,
                    colour: k,
                    peer: None,
                }],
                legend: Corner::UpperRight,
            })
        })
        .collect();
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let last = metrics.last();
    let done = last.and_then(|m| m["step"].as_u64()).unwrap_or(0);
    let steps = config["train"]["steps"].as_u64().unwrap_or(0);
    let ll = metrics
        .iter()
        .rev()
        .find_map(|m| m["valid_loglik"].as_f64())
        .map(|l| format!(", validation log-likelihood {l:.4}"))
        .unwrap_or_default();
    let title = format!(
        "run {name}: {}, {done} of {steps} updates{ll}",
        run_label(&config)
    );
    plot_panels(out, &title, &panels, 2, CURVES_SIZE)
}

/// Per `(quantity, d)`: its (n, seconds, whether the seconds are φ's alone) points.
type Seconds = BTreeMap<(String, u64), Vec<(f64, f64, bool)>>;

/// A benchmark's rows as lines: for each timed quantity (stein's and torch's
/// `pairs_per_second`, or the CPU peers' `numpy_pairs_per_second`, ...) and each d, pairs per
/// second against n and the time per step against n (φ's time where the step was not timed,
/// labelled so).
struct Sweep {
    /// `(quantity, d)` → (n, pairs/s) points.
    pairs: BTreeMap<(String, u64), Vec<(f64, f64)>>,
    /// `(quantity, d)` → (n, seconds, whether the seconds are φ's alone) points.
    seconds: Seconds,
}

/// The rows of a benchmark JSON: `rows` (stein bench, tools/*.py) or `results` (stein bench
/// --target); a file of several peer runs (`peer_runs`) gives all their rows.
fn sweep_rows(json: &Value) -> Vec<&Value> {
    if let Some(runs) = json["peer_runs"].as_array() {
        return runs.iter().flat_map(sweep_rows).collect();
    }
    json["rows"]
        .as_array()
        .or_else(|| json["results"].as_array())
        .map(|r| r.iter().collect())
        .unwrap_or_default()
}

/// Reads the lines of a benchmark JSON. Fails when it has no row with n, d and a time.
fn sweep(json: &Value, what: &str) -> Result<Sweep> {
    let mut s = Sweep {
        pairs: BTreeMap::new(),
        seconds: BTreeMap::new(),
    };
    for row in sweep_rows(json) {
        let (Some(n), Some(d)) = (row["n"].as_u64(), row["d"].as_u64()) else {
            continue;
        };
        let Some(obj) = row.as_object() else { continue };
        let nf = n as f64;
        // The quantities this row times: "" for `phi_seconds`, "numpy" for `numpy_phi_seconds`.
        for (key, v) in obj {
            let Some(prefix) = key.strip_suffix("phi_seconds") else {
                continue;
            };
            let Some(phi) = v.as_f64().filter(|t| *t > 0.0) else {
                continue;
            };
            let q = prefix.trim_end_matches('_').to_string();
            let pairs = obj
                .get(&format!("{prefix}pairs_per_second"))
                .and_then(Value::as_f64)
                .filter(|p| p.is_finite() && *p > 0.0)
                .unwrap_or(nf * nf / phi);
            s.pairs.entry((q.clone(), d)).or_default().push((nf, pairs));
            let step = obj
                .get(&format!("{prefix}step_seconds"))
                .and_then(Value::as_f64)
                .filter(|t| t.is_finite() && *t > 0.0);
            let point = match step {
                Some(t) => (nf, t, false),
                None => (nf, phi, true),
            };
            s.seconds.entry((q, d)).or_default().push(point);
        }
    }
    if s.pairs.is_empty() {
        bail!("{what} has no benchmark rows (n, d and a phi_seconds); give the JSON of `stein bench` or of a tools/ baseline");
    }
    Ok(s)
}

/// The name of a benchmark's source: its adapter or machine.
/// A source's name in the legend: its device (`adapter` or `machine`), after its `tool` where
/// the JSON names one (two PyTorch peers on one GPU, the full step and φ alone, would
/// otherwise share a name).
fn source_name(json: &Value, fallback: &str) -> String {
    let runs = json["peer_runs"].as_array();
    let first = runs.and_then(|r| r.first()).unwrap_or(json);
    let device = first["adapter"]
        .as_str()
        .or_else(|| first["machine"].as_str())
        .map(str::to_string);
    match (first["tool"].as_str(), device) {
        (Some(tool), Some(device)) => format!("{tool} on {device}"),
        (Some(tool), None) => tool.to_string(),
        (None, Some(device)) => device,
        (None, None) => fallback.to_string(),
    }
}

/// Draws `stein bench`'s sweep (`report`, its JSON) into `path`: pair interactions per second
/// and seconds per step against n, log–log, one line per d, with the adapter in the title;
/// each of `peers` (a name and the JSON that `tools/` writes, or another `stein bench` JSON)
/// adds its lines, dashed.
pub fn plot_bench(path: &Path, report: &Value, peers: &[(String, Value)]) -> Result<()> {
    let adapter = source_name(report, "this adapter");
    let mut sources = vec![("stein".to_string(), sweep(report, "the benchmark")?, None)];
    for (k, (name, json)) in peers.iter().enumerate() {
        let s = sweep(json, &format!("--peer {name}"))?;
        let label = source_name(json, name);
        sources.push((label, s, Some(k)));
    }
    let mut dims: Vec<u64> = sources
        .iter()
        .flat_map(|(_, s, _)| s.pairs.keys().map(|k| k.1))
        .collect();
    dims.sort_unstable();
    dims.dedup();
    let colour = |d: u64| dims.iter().position(|&x| x == d).unwrap_or(0);
    let name = |source: &str, q: &str, d: u64| match q {
        "" => format!("{source}, d = {d}"),
        q => format!("{source} {q}, d = {d}"),
    };
    let mut pairs = Vec::new();
    let mut seconds = Vec::new();
    for (source, s, peer) in &sources {
        for ((q, d), points) in &s.pairs {
            pairs.push(Line {
                label: name(source, q, *d),
                points: points.clone(),
                colour: colour(*d),
                peer: *peer,
            });
        }
        for ((q, d), points) in &s.seconds {
            let phi_only = points.iter().all(|p| p.2);
            let label = name(source, q, *d);
            seconds.push(Line {
                label: if phi_only {
                    format!("{label} (φ alone)")
                } else {
                    label
                },
                points: points.iter().map(|p| (p.0, p.1)).collect(),
                colour: colour(*d),
                peer: *peer,
            });
        }
    }
    let panels = [
        Panel {
            caption: "pair interactions per second (n² / time of φ)".into(),
            x_label: "particles n".into(),
            y_label: "pairs per second".into(),
            log_x: true,
            log_y: true,
            lines: pairs,
            legend: Corner::LowerRight,
        },
        Panel {
            caption: "seconds per SVGD step (median, score, φ, update)".into(),
            x_label: "particles n".into(),
            y_label: "seconds per step".into(),
            log_x: true,
            log_y: true,
            lines: seconds,
            legend: Corner::UpperLeft,
        },
    ];
    // The adapter's name without its backend and driver, which make the title too long.
    let adapter = match adapter.find(") (") {
        Some(i) if adapter.len() > 48 => &adapter[..=i],
        _ => adapter.as_str(),
    };
    let title = format!("stein bench on {adapter}: speed against the number of particles n");
    plot_panels(path, &title, &panels, 2, BENCH_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Width, height and the number of non-white pixels of a PNG.
    fn inked(path: &Path) -> (u32, u32, usize) {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let ink = buf
            .chunks_exact(3)
            .filter(|p| p != &[255, 255, 255])
            .count();
        (info.width, info.height, ink)
    }

    #[test]
    fn curves_of_a_run_still_writing_its_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let config =
            json!({"model": "grbm", "train": {"algo": "stein-cd", "hidden": 8, "steps": 100}});
        std::fs::write(run.join("config.json"), config.to_string()).unwrap();
        let out = run.join(CURVES);
        // No metrics yet: the two charts say so.
        plot_run_curves(run, &out).unwrap();
        let (w, h, empty) = inked(&out);
        assert_eq!((w, h), CURVES_SIZE);
        let lines: Vec<String> = (1..=5)
            .map(|s| {
                json!({"step": 10 * s, "energy_gap": 0.1 * s as f64, "grad_norm": 10f64.powi(-s),
                       "step_seconds": 0.01, "valid_loglik": -3.0 + 0.1 * s as f64,
                       "mmd2": 0.01 / s as f64})
                .to_string()
            })
            .collect();
        // An unfinished last line, as a run writing it leaves for a moment.
        let text = format!("{}\n{{\"step\": 60, \"energy_g", lines.join("\n"));
        std::fs::write(run.join("metrics.jsonl"), text).unwrap();
        plot_run_curves(run, &out).unwrap();
        let (_, _, full) = inked(&out);
        assert!(
            full > empty + 2000,
            "{full} inked pixels against {empty} with no metrics"
        );
        assert_eq!(
            run_label(&config),
            "GRBM (H = 8), stein-cd",
            "the title's model"
        );
        let mlp = json!({"model": "mlp", "widths": [64, 64], "train": {"algo": "cd"}});
        assert_eq!(run_label(&mlp), "MLP energy (64-64), cd");
        let e = plot_run_curves(&run.join("nope"), &out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a directory"), "{e}");
        std::fs::create_dir(run.join("empty")).unwrap();
        let e = plot_run_curves(&run.join("empty"), &out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no run"), "{e}");
    }

    #[test]
    fn bench_picture_with_the_peers_of_tools() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bench.png");
        let rows: Vec<Value> = [2u64, 16]
            .iter()
            .flat_map(|&d| {
                [1024u64, 2048, 4096].map(|n| {
                    let phi = (n * n * d) as f64 * 1e-11;
                    json!({"n": n, "d": d, "phi_seconds": phi, "pairs_per_second": (n * n) as f64 / phi,
                           "step_seconds": 2.0 * phi})
                })
            })
            .collect();
        let stein =
            json!({"adapter": "llvmpipe (LLVM 15) (Vulkan, Cpu, driver llvmpipe)", "rows": rows});
        // torch_phi_baseline.py, cpu_phi_baseline.py (several peers a row) and a file of runs.
        let torch = json!({"adapter": "NVIDIA H200", "rows": [
            {"n": 1024, "d": 16, "phi_seconds": 1e-4, "pairs_per_second": 1e10},
            {"n": 4096, "d": 16, "phi_seconds": 1e-3, "pairs_per_second": 1.6e10}]});
        let cpu = json!({"machine": "x86_64, 2 CPUs", "rows": [
            {"n": 2048, "d": 2, "numpy_phi_seconds": 0.5, "numpy_pairs_per_second": 8e6,
             "jax_phi_seconds": 0.1, "jax_pairs_per_second": 4e7}]});
        let runs = json!({"peer_runs": [{"machine": "m", "rows": [
            {"n": 1024, "d": 2, "keops_phi_seconds": 0.01}]}]});
        assert_eq!(source_name(&torch, "t.json"), "NVIDIA H200");
        let step = json!({"tool": "PyTorch full step", "adapter": "NVIDIA H200", "rows": []});
        assert_eq!(
            source_name(&step, "s.json"),
            "PyTorch full step on NVIDIA H200"
        );
        assert_eq!(source_name(&json!({"rows": []}), "p.json"), "p.json");
        let s = sweep(&cpu, "cpu").unwrap();
        assert_eq!(s.pairs.len(), 2, "numpy and jax");
        assert_eq!(s.pairs[&("jax".to_string(), 2)], vec![(2048.0, 4e7)]);
        assert!(s.seconds[&("numpy".to_string(), 2)][0].2, "φ alone");
        let r = sweep(&runs, "runs").unwrap();
        assert_eq!(
            r.pairs[&("keops".to_string(), 2)],
            vec![(1024.0, 1024.0 * 1024.0 / 0.01)]
        );
        plot_bench(&out, &stein, &[]).unwrap();
        let (w, h, alone) = inked(&out);
        assert_eq!((w, h), BENCH_SIZE);
        let peers = [
            ("t.json".to_string(), torch),
            ("c.json".into(), cpu),
            ("r.json".into(), runs),
        ];
        plot_bench(&out, &stein, &peers).unwrap();
        let (_, _, with_peers) = inked(&out);
        assert!(with_peers > alone + 500, "{with_peers} against {alone}");
        let e = plot_bench(&out, &stein, &[("x.json".into(), json!({"rows": []}))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--peer x.json has no benchmark rows"), "{e}");
    }
}
