//! SVGD from Python: the primitives (φ, the median bandwidth, KSD², MMD²), a whole run
//! (the library's [`SvgdRun`], as `stein svgd` runs it) and the step-level engine.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;

use stein::bandwidth::from_median;
use stein::gpu::{GpuContext, GpuVec};
use stein::kernels::Kernels;
use stein::median::MedianSelector;
use stein::run::svgd::{check_bandwidth, Init, ScoreSource, Watch};
use stein::run::{OptimizerKind, SvgdRun};
use stein::svgd::{Bandwidth, Optimizer, Svgd};

use crate::{
    bandwidth, bytes_of, floats, guard, py_err, AssertSend, Device, ErrSlot, PyProgress, TargetArg,
};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(phi, m)?)?;
    m.add_function(wrap_pyfunction!(ksd, m)?)?;
    m.add_function(wrap_pyfunction!(median_bandwidth, m)?)?;
    m.add_function(wrap_pyfunction!(mmd2, m)?)?;
    m.add_function(wrap_pyfunction!(svgd, m)?)?;
    Ok(())
}

/// Fails unless the particles' d (of the array named `name`) is the target's.
fn check_dim(t: &TargetArg, d: usize, name: &str) -> PyResult<()> {
    if t.dim() != d {
        return Err(PyValueError::new_err(format!(
            "{name} has d = {d} but the target has d = {}; give {name} of shape (n, {})",
            t.dim(),
            t.dim()
        )));
    }
    Ok(())
}

/// The optimizer by name.
fn optimizer(name: &str) -> PyResult<OptimizerKind> {
    match name {
        "adagrad" => Ok(OptimizerKind::Adagrad),
        "sgd" => Ok(OptimizerKind::Sgd),
        "adam" => Ok(OptimizerKind::Adam),
        other => Err(PyValueError::new_err(format!(
            "optimizer `{other}` is not one of adagrad, sgd, adam"
        ))),
    }
}

/// φ at x: (φ, h).
#[pyfunction]
#[pyo3(signature = (device, kind, target, x, n, d, h, score_batch=None))]
#[allow(clippy::too_many_arguments)]
fn phi<'py>(
    py: Python<'py>,
    device: &Device,
    kind: &str,
    target: &Bound<'py, PyAny>,
    x: &[u8],
    n: usize,
    d: usize,
    h: &Bound<'py, PyAny>,
    score_batch: Option<usize>,
) -> PyResult<(Bound<'py, PyByteArray>, f64)> {
    let ctx = device.ctx.clone();
    let t = TargetArg::read(py, &ctx, kind, target, d, score_batch)?;
    check_dim(&t, d, "x")?;
    let x = floats(x, n, d, "x")?;
    let bw = bandwidth(h)?;
    let slot = ErrSlot::default();
    let r = py.detach(|| {
        guard(|| match &t {
            TargetArg::Built(target) => stein::run::svgd::phi(&ctx, target, &x, n, bw),
            TargetArg::Callable(..) => {
                stein::run::svgd::phi_with_score(&ctx, t.score(&ctx, &slot)?, &x, n, bw)
            }
        })
    });
    let (p, h) = r.map_err(|e| py_err(e, Some(&slot), Some(&ctx)))?;
    Ok((bytes_of(py, &p), h))
}

/// KSD² of x: (V-statistic, U-statistic, h).
#[pyfunction]
#[pyo3(signature = (device, kind, target, x, n, d, h, score_batch=None))]
#[allow(clippy::too_many_arguments)]
fn ksd<'py>(
    py: Python<'py>,
    device: &Device,
    kind: &str,
    target: &Bound<'py, PyAny>,
    x: &[u8],
    n: usize,
    d: usize,
    h: &Bound<'py, PyAny>,
    score_batch: Option<usize>,
) -> PyResult<(f64, f64, f64)> {
    let ctx = device.ctx.clone();
    let t = TargetArg::read(py, &ctx, kind, target, d, score_batch)?;
    check_dim(&t, d, "x")?;
    let x = floats(x, n, d, "x")?;
    let bw = bandwidth(h)?;
    let slot = ErrSlot::default();
    py.detach(|| {
        guard(|| {
            check_bandwidth(bw)?;
            let k = Kernels::new(&ctx)?;
            let mut e = Svgd::new(&ctx, &k, t.score(&ctx, &slot)?, &x, n, Optimizer::Sgd)?;
            let (h, _) = e.bandwidth(bw)?;
            let (v, u) = e.ksd(h)?;
            Ok((v, u, h))
        })
    })
    .map_err(|e| py_err(e, Some(&slot), Some(&ctx)))
}

/// The median bandwidth of x: (h, med), h = med / log(n + 1).
#[pyfunction]
fn median_bandwidth(
    py: Python<'_>,
    device: &Device,
    x: &[u8],
    n: usize,
    d: usize,
) -> PyResult<(f64, f64)> {
    let ctx = device.ctx.clone();
    let x = floats(x, n, d, "x")?;
    py.detach(|| {
        guard(|| {
            let k = Kernels::new(&ctx)?;
            let xb = GpuVec::from_slice(&ctx, "particles", &x)?;
            let med = MedianSelector::new(&ctx, &k, n, d)?
                .median_sqdist(&ctx, &k, &xb)?
                .med;
            Ok((from_median(med, n), med))
        })
    })
    .map_err(|e| py_err(e, None, Some(&ctx)))
}

/// The unbiased MMD² between x and y: (MMD², h).
#[pyfunction]
#[pyo3(signature = (device, x, n, y, m, d, h=None))]
#[allow(clippy::too_many_arguments)]
fn mmd2(
    py: Python<'_>,
    device: &Device,
    x: &[u8],
    n: usize,
    y: &[u8],
    m: usize,
    d: usize,
    h: Option<f64>,
) -> PyResult<(f64, f64)> {
    let ctx = device.ctx.clone();
    let x = floats(x, n, d, "x")?;
    let y = floats(y, m, d, "y")?;
    py.detach(|| {
        guard(|| {
            let k = Kernels::new(&ctx)?;
            let r = stein::mmd::mmd2(&ctx, &k, &x, &y, d, h)?;
            Ok((r.mmd2, r.h))
        })
    })
    .map_err(|e| py_err(e, None, Some(&ctx)))
}

/// A whole SVGD run: (final particles, the result as JSON text, interrupted). `x0` the
/// initial particles, or None for `n` draws by `init` ("normal": N(0, I); "prior": the
/// Bayesian target's prior) with `seed`. `callback(step, x: bytearray, n, d) -> bool` every
/// `callback_every` steps; False stops the run.
#[pyfunction]
#[pyo3(signature = (device, kind, target, x0, n, d, init, seed, steps, step_size, h, optimizer_name, ksd_every, score_batch, callback, callback_every, bar))]
#[allow(clippy::too_many_arguments)]
fn svgd<'py>(
    py: Python<'py>,
    device: &Device,
    kind: &str,
    target: &Bound<'py, PyAny>,
    x0: Option<&[u8]>,
    n: usize,
    d: usize,
    init: &str,
    seed: u64,
    steps: u64,
    step_size: f64,
    h: &Bound<'py, PyAny>,
    optimizer_name: &str,
    ksd_every: Option<u64>,
    score_batch: Option<usize>,
    callback: Option<Py<PyAny>>,
    callback_every: u64,
    bar: Option<Py<PyAny>>,
) -> PyResult<(Bound<'py, PyByteArray>, String, bool)> {
    let ctx = device.ctx.clone();
    let t = TargetArg::read(py, &ctx, kind, target, d, score_batch)?;
    // Without x0 the particles are drawn in the target's dimension.
    let d = if x0.is_some() { d } else { t.dim() };
    let init = match (x0, init) {
        (Some(x0), _) => {
            check_dim(&t, d, "x0")?;
            Init::Particles(floats(x0, n, d, "x0")?)
        }
        (None, "normal") => Init::Normal {
            n,
            mean: vec![0.0],
            std: 1.0,
            seed,
        },
        (None, "prior") => Init::Prior { n, seed },
        (None, other) => {
            return Err(PyValueError::new_err(format!(
                "init `{other}` is neither \"normal\" nor \"prior\""
            )))
        }
    };
    let run = SvgdRun {
        optimizer: optimizer(optimizer_name)?,
        bandwidth: bandwidth(h)?,
        ksd_every,
        ..SvgdRun::new(init, steps, step_size)
    };
    let slot = ErrSlot::default();
    let r = py.detach(|| {
        guard(|| {
            let mut progress = PyProgress {
                bar,
                slot: slot.clone(),
            };
            let source = match &t {
                TargetArg::Built(target) => ScoreSource::Target(target),
                TargetArg::Callable(..) => ScoreSource::Score(t.score(&ctx, &slot)?),
            };
            let mut call = |step: u64, x: &[f32]| -> Result<bool> {
                let Some(cb) = &callback else { return Ok(true) };
                Python::attach(|py| -> PyResult<bool> {
                    cb.call1(py, (step, bytes_of(py, x), x.len() / d.max(1), d))?
                        .extract(py)
                })
                .map_err(|e| {
                    let line = e.to_string();
                    slot.put(e);
                    anyhow!("the callback raised {line}")
                })
            };
            let watch = callback.is_some().then_some(Watch {
                every: callback_every,
                f: &mut call,
            });
            run.run_with(&ctx, source, &mut progress, watch)
        })
    });
    let r = r.map_err(|e| py_err(e, Some(&slot), Some(&ctx)))?;
    if r.interrupted {
        if let Some(e) = slot.take() {
            return Err(e);
        }
    }
    let json = serde_json::to_string(&r).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((bytes_of(py, &r.particles), json, r.interrupted))
}

/// SVGD step by step on the device: particles, optimizer state and score stay there; each
/// call reads back only what it returns.
#[pyclass(module = "stein._stein")]
pub struct SvgdEngine {
    // Declared first, so dropped first: it borrows `kernels` and `ctx`.
    engine: Engine,
    _target: TargetArg,
    _kernels: Arc<Kernels>,
    ctx: Arc<GpuContext>,
    slot: ErrSlot,
    step_size: f64,
    bw: Bandwidth,
}

/// The engine, movable to another Python thread.
struct Engine(Svgd<'static>);

// SAFETY: the engine's parts are device buffers (Send + Sync), and scores of this crate's
// making: the library's device scores and the host score over an `Arc<Py<PyAny>>`, whose
// `Cell`s are Send. Python reaches the engine only through `SvgdEngine`'s methods, and every
// one that touches it takes `&mut self` (PyO3's borrow flag: one caller at a time); the
// `&self` getters read plain integers of `Svgd`, never a `Cell`.
unsafe impl Send for Engine {}
// SAFETY: as above.
unsafe impl Sync for Engine {}

impl SvgdEngine {
    /// Runs `f` on the engine with the GIL released; errors become Python exceptions.
    fn with<T: Send>(
        &mut self,
        py: Python<'_>,
        f: impl FnOnce(&mut Svgd<'static>) -> Result<T> + Send,
    ) -> PyResult<T> {
        let engine = AssertSend(&mut self.engine.0);
        let r = py.detach(move || {
            let engine = engine;
            guard(|| f(engine.0))
        });
        r.map_err(|e| py_err(e, Some(&self.slot), Some(&self.ctx)))
    }
}

#[pymethods]
impl SvgdEngine {
    #[new]
    #[pyo3(signature = (device, kind, target, x0, n, d, step_size, h, optimizer_name, score_batch=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        device: &Device,
        kind: &str,
        target: &Bound<'_, PyAny>,
        x0: &[u8],
        n: usize,
        d: usize,
        step_size: f64,
        h: &Bound<'_, PyAny>,
        optimizer_name: &str,
        score_batch: Option<usize>,
    ) -> PyResult<Self> {
        let ctx = device.ctx.clone();
        let t = TargetArg::read(py, &ctx, kind, target, d, score_batch)?;
        check_dim(&t, d, "x0")?;
        let x = floats(x0, n, d, "x0")?;
        let bw = bandwidth(h)?;
        if !(step_size > 0.0 && step_size.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "step_size {step_size} must be positive and finite (typical: 1e-3 to 1 with adagrad)"
            )));
        }
        let opt = optimizer(optimizer_name)?.optimizer();
        let slot = ErrSlot::default();
        let made = py.detach(|| {
            guard(|| {
                let kernels = Arc::new(Kernels::new(&ctx)?);
                // SAFETY: `ctx` and `kernels` are behind `Arc`s this struct owns, at heap
                // addresses that never move, and are dropped after `engine` (field order);
                // nothing takes them mutably.
                let c: &'static GpuContext = unsafe { &*Arc::as_ptr(&ctx) };
                let k: &'static Kernels = unsafe { &*Arc::as_ptr(&kernels) };
                let score = t.score(&ctx, &slot)?;
                let engine = Svgd::new(c, k, score, &x, n, opt)?;
                Ok(AssertSend((engine, kernels)))
            })
        });
        let (engine, kernels) = made.map_err(|e| py_err(e, Some(&slot), Some(&ctx)))?.0;
        Ok(Self {
            engine: Engine(engine),
            _target: t,
            _kernels: kernels,
            ctx,
            slot,
            step_size,
            bw,
        })
    }

    /// `k` steps; checks for Ctrl-C between steps.
    #[pyo3(signature = (k=1))]
    fn step(&mut self, py: Python<'_>, k: u64) -> PyResult<()> {
        let (eps, bw) = (self.step_size, self.bw);
        let slot = self.slot.clone();
        self.with(py, move |e| {
            for i in 0..k {
                let first = e.steps_taken() == 0;
                e.step(eps, bw)?;
                if first {
                    e.check_score()?;
                }
                if i + 1 < k {
                    let stop = Python::attach(|py| py.check_signals());
                    if let Err(err) = stop {
                        slot.put(err);
                        return Err(anyhow!("interrupted"));
                    }
                }
            }
            e.check_score()
        })
    }

    /// The particles.
    fn particles<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyByteArray>> {
        let x = self.with(py, |e| {
            let x = e.particles()?;
            e.check_score()?;
            Ok(x)
        })?;
        Ok(bytes_of(py, &x))
    }

    /// Replaces the particles (same shape; the optimizer's state is kept).
    fn set_particles(&mut self, py: Python<'_>, x: &[u8]) -> PyResult<()> {
        let x = floats(x, self.engine.0.n(), self.engine.0.d(), "particles")?;
        if !x.iter().all(|v| v.is_finite()) {
            return Err(PyValueError::new_err("particles contain NaN or inf"));
        }
        self.with(py, move |e| e.set_particles(&x))
    }

    /// φ at the particles and h.
    fn phi<'py>(&mut self, py: Python<'py>) -> PyResult<(Bound<'py, PyByteArray>, f64)> {
        let bw = self.bw;
        let (p, h) = self.with(py, move |e| e.phi(bw))?;
        Ok((bytes_of(py, &p), h))
    }

    /// The bandwidth for the particles.
    fn bandwidth(&mut self, py: Python<'_>) -> PyResult<f64> {
        let bw = self.bw;
        self.with(py, move |e| Ok(e.bandwidth(bw)?.0))
    }

    /// KSD² (V, U) with the median bandwidth, and that h.
    fn ksd(&mut self, py: Python<'_>) -> PyResult<(f64, f64, f64)> {
        self.with(py, |e| {
            let (h, _) = e.bandwidth(Bandwidth::Median)?;
            let (v, u) = e.ksd(h)?;
            Ok((v, u, h))
        })
    }

    /// Steps taken.
    #[getter]
    fn steps_taken(&self) -> u64 {
        self.engine.0.steps_taken()
    }

    /// Number of particles.
    #[getter]
    fn n(&self) -> usize {
        self.engine.0.n()
    }

    /// Dimension.
    #[getter]
    fn d(&self) -> usize {
        self.engine.0.d()
    }
}
