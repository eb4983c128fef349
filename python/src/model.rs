//! Energy models from Python: a training job (the library's [`TrainJob`], as `stein train`
//! makes and runs it, resume included) and a trained model file with its energy, score,
//! samples and log-likelihood (the library's workflows of `stein energy`, `sample`, `eval`).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyByteArray;
use serde_json::{json, Map, Value};

use stein::io::data::{load_for_model, Data, DataOptions, Transform, Units};
use stein::model::spec::ModelSpec;
use stein::run::{EvalMethod, EvalOptions, RunConfig, SampleMethod, SampleOptions, Schedule};
use stein::run::{TrainJob, TrainOptions};

use crate::{bytes_of, floats, guard, py_err, Device, ErrSlot, PyProgress};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(train_option_names, m)?)?;
    Ok(())
}

/// "data" or "model".
fn units(s: &str) -> PyResult<Units> {
    match s {
        "data" => Ok(Units::Data),
        "model" => Ok(Units::Model),
        other => Err(PyValueError::new_err(format!(
            "units `{other}` is neither \"data\" nor \"model\""
        ))),
    }
}

/// The keys of a serialised struct, as its JSON object names them.
fn keys_of(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The option names of `stein train` a job takes: (the run's options, the schedule's).
#[pyfunction]
fn train_option_names() -> (Vec<String>, Vec<String>) {
    (
        keys_of(&serde_json::to_value(TrainOptions::default()).unwrap_or_default()),
        keys_of(&serde_json::to_value(Schedule::default()).unwrap_or_default()),
    )
}

/// `T` from the JSON object `given` (long option names): each key read alone first, so that
/// an error names it.
fn from_options<T: serde::de::DeserializeOwned>(given: &Map<String, Value>) -> Result<T> {
    for (key, value) in given {
        let mut one = Map::new();
        one.insert(key.clone(), value.clone());
        if let Err(e) = serde_json::from_value::<T>(Value::Object(one)) {
            bail!("train: option `{}` = {value}: {e}", key.replace('-', "_"));
        }
    }
    Ok(serde_json::from_value(Value::Object(given.clone()))?)
}

/// Whether two paths name the same directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The job `stein train` would make from these options (`options` and `schedule` JSON
/// objects of the options given, by their long names).
fn job(
    data: Option<PathBuf>,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
    overwrite: bool,
    options: &Map<String, Value>,
    schedule: &Map<String, Value>,
) -> Result<TrainJob> {
    let o: TrainOptions = from_options(options)?;
    let s: Schedule = from_options(schedule)?;
    if let Some(dir) = resume {
        ensure!(
            !overwrite,
            "resume continues a run and overwrite replaces it; give one of them"
        );
        let run = RunConfig::read(&dir)?;
        let given: Vec<String> = options.keys().cloned().collect();
        let mut differences = run.differences(data.as_deref(), &o, &given);
        if let Some(out) = out.filter(|o| !same_dir(o, &dir)) {
            differences.push(format!(
                "--out {} (the run is in {})",
                out.display(),
                dir.display()
            ));
        }
        ensure!(
            differences.is_empty(),
            "--resume {} continues the run with its own options, and these differ from them: {}; drop them (only --steps, --epochs, --log-every, --checkpoint-every, --grid-every and --image-shape may change), or start a new run in another --out",
            dir.display(),
            differences.join(", ")
        );
        return TrainJob::resume(dir, &s);
    }
    let data = data.context("give data (a .npy or .csv file, or \"ring8\"), or resume=RUN_DIR")?;
    let out = out.context("give out=RUN_DIR, the run directory")?;
    if overwrite {
        TrainJob::replacing(data, out, &o, &s)
    } else {
        TrainJob::new(data, out, &o, &s)
    }
}

/// A training job run to its end: the summary as JSON text (`steps`, `out`, `last`: the last
/// metrics line or null, `total`).
#[pyfunction]
#[pyo3(signature = (device, data, out, resume, overwrite, options, schedule, bar))]
#[allow(clippy::too_many_arguments)]
fn train(
    py: Python<'_>,
    device: &Device,
    data: Option<PathBuf>,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
    overwrite: bool,
    options: &str,
    schedule: &str,
    bar: Option<Py<PyAny>>,
) -> PyResult<String> {
    let object = |text: &str| -> PyResult<Map<String, Value>> {
        match serde_json::from_str(text) {
            Ok(Value::Object(o)) => Ok(o),
            _ => Err(PyValueError::new_err(
                "train: the options are not a JSON object",
            )),
        }
    };
    let (options, schedule) = (object(options)?, object(schedule)?);
    let ctx = device.ctx.clone();
    let slot = ErrSlot::default();
    let r = py.detach(|| {
        guard(|| {
            let job = job(data, out, resume, overwrite, &options, &schedule)?;
            let total = job.config().train.steps;
            let mut progress = PyProgress {
                bar,
                slot: slot.clone(),
            };
            let s = job.run(&ctx, &mut progress)?;
            Ok((s, total))
        })
    });
    let (s, total) = r.map_err(|e| py_err(e, Some(&slot), Some(&ctx)))?;
    if s.interrupted {
        // The KeyboardInterrupt (or the bar's exception) that stopped it, said again with
        // what was kept.
        let cause = slot.take();
        let msg = format!(
            "interrupted at update {} of {total}; checkpoint written to {}; continue with stein.train(resume={:?})",
            s.steps,
            s.out.join("checkpoint.safetensors").display(),
            s.out.display().to_string()
        );
        return Err(match cause {
            Some(e) if !e.is_instance_of::<PyKeyboardInterrupt>(py) => e,
            _ => PyKeyboardInterrupt::new_err(msg),
        });
    }
    Ok(json!({
        "steps": s.steps,
        "total": total,
        "out": s.out,
        "last": s.last,
    })
    .to_string())
}

/// A trained model file: its kind and shape, θ, and the data transform it was trained in.
#[pyclass(frozen, module = "stein._stein")]
pub struct Model {
    spec: ModelSpec,
    theta: Vec<f32>,
    transform: Option<Transform>,
}

impl Model {
    /// Points `[n, d]` in `units` → the model's units (the transform applied to data units).
    fn to_model(&self, x: &mut [f32], u: Units, name: &str) -> Result<()> {
        if let (Some(t), Units::Data) = (&self.transform, u) {
            t.check_scale(Path::new(name), x)?;
            t.to_model(x);
        }
        Ok(())
    }

    fn check_d(&self, d: usize, name: &str) -> PyResult<()> {
        if d != self.spec.dim() {
            return Err(PyValueError::new_err(format!(
                "{name} has d = {d} but the model has d = {}; give {name} of shape (n, {})",
                self.spec.dim(),
                self.spec.dim()
            )));
        }
        Ok(())
    }
}

#[pymethods]
impl Model {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let (spec, theta, transform) = py
            .detach(|| guard(|| ModelSpec::load_with_transform(&path)))
            .map_err(|e| py_err(e, None, None))?;
        Ok(Self {
            spec,
            theta,
            transform,
        })
    }

    /// The model's kind and shape as JSON text.
    #[getter]
    fn spec_json(&self) -> String {
        serde_json::to_string(&self.spec).unwrap_or_default()
    }

    /// The data transform as JSON text (None for files written before models carried one).
    #[getter]
    fn transform_json(&self) -> Option<String> {
        self.transform.as_ref().map(Transform::to_json)
    }

    /// Input dimension.
    #[getter]
    fn d(&self) -> usize {
        self.spec.dim()
    }

    /// θ, flat.
    fn theta<'py>(&self, py: Python<'py>) -> Bound<'py, PyByteArray> {
        bytes_of(py, &self.theta)
    }

    /// f at the rows of x.
    fn energy<'py>(
        &self,
        py: Python<'py>,
        device: &Device,
        x: &[u8],
        n: usize,
        d: usize,
        units_name: &str,
    ) -> PyResult<Bound<'py, PyByteArray>> {
        self.check_d(d, "x")?;
        let u = units(units_name)?;
        let mut x = floats(x, n, d, "x")?;
        let ctx = device.ctx.clone();
        let f = py
            .detach(|| {
                guard(|| {
                    self.to_model(&mut x, u, "x")?;
                    stein::run::energy::energies(&ctx, &self.spec, &self.theta, &x)
                })
            })
            .map_err(|e| py_err(e, None, Some(&ctx)))?;
        Ok(bytes_of(py, &f))
    }

    /// ∇ₓ f at the rows of x, in the units of x (data units: the chain rule through the
    /// model's standardisation).
    fn score<'py>(
        &self,
        py: Python<'py>,
        device: &Device,
        x: &[u8],
        n: usize,
        d: usize,
        units_name: &str,
    ) -> PyResult<Bound<'py, PyByteArray>> {
        self.check_d(d, "x")?;
        let u = units(units_name)?;
        let mut x = floats(x, n, d, "x")?;
        let ctx = device.ctx.clone();
        let s = py
            .detach(|| {
                guard(|| {
                    self.to_model(&mut x, u, "x")?;
                    let (_, mut s) =
                        stein::run::energy::energies_and_scores(&ctx, &self.spec, &self.theta, &x)?;
                    // z = (x − mean)/std: ∇ₓ f = ∇_z f / std.
                    if let (Some(t), Units::Data) = (&self.transform, u) {
                        if let Some(st) = &t.standardize {
                            for (e, v) in s.iter_mut().enumerate() {
                                *v = (f64::from(*v) / st.std[e % d]) as f32;
                            }
                        }
                    }
                    Ok(s)
                })
            })
            .map_err(|e| py_err(e, None, Some(&ctx)))?;
        Ok(bytes_of(py, &s))
    }

    /// n samples: gibbs (RBM), langevin or svgd, from N(0, I) with the seed.
    #[allow(clippy::too_many_arguments)]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        device: &Device,
        n: usize,
        method: &str,
        steps: u64,
        step_size: f64,
        seed: u64,
        units_name: &str,
    ) -> PyResult<Bound<'py, PyByteArray>> {
        let u = units(units_name)?;
        let method = match method {
            "gibbs" => SampleMethod::Gibbs,
            "langevin" => SampleMethod::Langevin,
            "svgd" => SampleMethod::Svgd,
            other => {
                return Err(PyValueError::new_err(format!(
                    "method `{other}` is not one of gibbs, langevin, svgd"
                )))
            }
        };
        let options = SampleOptions {
            method,
            n,
            steps,
            step_size,
            seed,
        };
        let ctx = device.ctx.clone();
        let x = py
            .detach(|| {
                guard(|| {
                    options.check()?;
                    options.check_model(&self.spec)?;
                    let mut x =
                        stein::run::sample::sample(&ctx, &self.spec, &self.theta, &options)?;
                    if let (Some(t), Units::Data) = (&self.transform, u) {
                        t.to_data(&mut x);
                    }
                    Ok(x)
                })
            })
            .map_err(|e| py_err(e, None, Some(&ctx)))?;
        Ok(bytes_of(py, &x))
    }

    /// The mean log-likelihood of data (a path, or float32 bytes of n rows), as `stein eval`
    /// reports it (JSON text); `samples` (float32 bytes of m rows) add their MMD² to the data.
    #[pyo3(signature = (device, data_path, data, n, d, units_name, method, ais_temperatures, ais_runs, ais_chains, seed, grid, margin, samples, m, bar))]
    #[allow(clippy::too_many_arguments)]
    fn log_likelihood(
        &self,
        py: Python<'_>,
        device: &Device,
        data_path: Option<PathBuf>,
        data: Option<&[u8]>,
        n: usize,
        d: usize,
        units_name: &str,
        method: &str,
        ais_temperatures: usize,
        ais_runs: usize,
        ais_chains: usize,
        seed: u64,
        grid: usize,
        margin: f64,
        samples: Option<&[u8]>,
        m: usize,
        bar: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let u = units(units_name)?;
        let method = match method {
            "auto" => EvalMethod::Auto,
            "exact" => EvalMethod::Exact,
            "quadrature" => EvalMethod::Quadrature,
            "ais" => EvalMethod::Ais,
            other => {
                return Err(PyValueError::new_err(format!(
                    "method `{other}` is not one of auto, exact, quadrature, ais"
                )))
            }
        };
        let options = EvalOptions {
            method,
            ais: stein::ais::AisConfig {
                temperatures: ais_temperatures,
                runs: ais_runs,
                chains: ais_chains,
                seed,
                ..Default::default()
            },
            grid,
            margin,
        };
        let given = match data {
            Some(b) => {
                self.check_d(d, "data")?;
                Some(floats(b, n, d, "data")?)
            }
            None => None,
        };
        let samples = match samples {
            Some(b) => {
                self.check_d(d, "samples")?;
                Some(floats(b, m, d, "samples")?)
            }
            None => None,
        };
        let ctx = device.ctx.clone();
        let slot = ErrSlot::default();
        let r = py.detach(|| {
            guard(|| {
                options.check()?;
                let data = match (given, &data_path) {
                    (Some(mut x), _) => {
                        self.to_model(&mut x, u, "data")?;
                        Data {
                            x,
                            n,
                            d,
                            transform: Transform::identity(d),
                        }
                    }
                    (None, Some(p)) => {
                        load_for_model(p, self.transform.as_ref(), DataOptions::default(), u)?
                    }
                    (None, None) => bail!("give data: an array [n, d] or a .npy/.csv path"),
                };
                let samples = match samples {
                    Some(mut s) => {
                        if let (Some(t), Units::Data) = (&self.transform, u) {
                            t.to_model(&mut s);
                        }
                        Some(s)
                    }
                    None => None,
                };
                let mut progress = PyProgress {
                    bar,
                    slot: slot.clone(),
                };
                let report = stein::run::eval::evaluate(
                    &ctx,
                    &self.spec,
                    &self.theta,
                    &data,
                    samples.as_deref(),
                    &options,
                    &mut progress,
                )?;
                let mut v = serde_json::to_value(&report)?;
                if let (Some(w), Some(o)) = (report.warning(), v.as_object_mut()) {
                    o.insert("warning".into(), Value::String(w));
                }
                Ok(v.to_string())
            })
        });
        r.map_err(|e| py_err(e, Some(&slot), Some(&ctx)))
    }
}
