//! The extension module `stein._stein`: the library's devices, workflows and SVGD engine as
//! Python calls. The Python package (`python/stein/__init__.py`) checks and converts the
//! arguments (NumPy arrays to C-ordered float32 bytes, shapes named by argument) and calls
//! these; arrays come back as `bytearray`s of float32 that it views as NumPy arrays without a
//! copy.
//!
//! Rules at the boundary: the library's errors become `ValueError` (bad input, the command
//! line's one-line message) or `RuntimeError` (the device failed), a diverged run
//! `stein.DivergedError`; an exception raised by Python code the library called (a score, a
//! callback, the progress bar) is raised again as it was; a panic in the library becomes
//! `RuntimeError` ([`guard`]), never an abort. The GIL is released while the device works and
//! taken again only to call Python code; between steps the long calls check for signals, so
//! Ctrl-C raises `KeyboardInterrupt` after the step in flight.

mod engine;
mod model;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict};

use stein::gpu::context::list_all_adapters;
use stein::gpu::{AdapterChoice, GpuContext, GpuOptions, PhiLayoutChoice};
use stein::io::target::{from_json_in, load_target, Target};
use stein::run::Progress;
use stein::svgd::{Bandwidth, Score};

pyo3::create_exception!(
    _stein,
    DivergedError,
    PyRuntimeError,
    "The run's numbers left the range where they mean anything (NaN, inf, or past a documented limit); the message names the step, the value and what to change."
);

/// Moves a value into [`Python::detach`]'s closure. Sound here: the closure runs on the
/// calling thread, and the values wrapped hold no Python reference used without the GIL
/// (the host score and callbacks take it with [`Python::attach`] before touching Python).
pub(crate) struct AssertSend<T>(pub T);
// SAFETY: see the type's documentation; `detach` runs its closure on the current thread.
unsafe impl<T> Send for AssertSend<T> {}

/// A panic in the library, turned into an error ([`guard`]).
#[derive(Debug)]
struct Panicked(String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "internal error in stein (a bug; please report it): {}",
            self.0
        )
    }
}

impl std::error::Error for Panicked {}

/// A failure of the device itself (opening it, or an error it reported).
#[derive(Debug)]
struct DeviceFailure(String);

impl std::fmt::Display for DeviceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeviceFailure {}

/// Runs library code, turning a panic into an error instead of unwinding into Python.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(Panicked(msg).into())
        }
    }
}

/// Where a Python callback called from the library (a score, a callback, the progress bar)
/// leaves the exception it raised, to be raised again when the library call returns.
#[derive(Clone, Default)]
pub(crate) struct ErrSlot(Arc<Mutex<Option<PyErr>>>);

impl ErrSlot {
    /// Keeps the first exception.
    pub(crate) fn put(&self, e: PyErr) {
        if let Ok(mut s) = self.0.lock() {
            if s.is_none() {
                *s = Some(e);
            }
        }
    }

    /// The exception kept, if any.
    pub(crate) fn take(&self) -> Option<PyErr> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }

    /// Whether an exception is kept.
    pub(crate) fn is_set(&self) -> bool {
        self.0.lock().map(|s| s.is_some()).unwrap_or(false)
    }
}

/// The Python exception for a library error: the exception a Python callback raised (kept in
/// `slot`), `KeyboardInterrupt` for a stopped AIS, `DivergedError`, `RuntimeError` for the
/// device (or a panic; `ctx`, when given, is asked whether the device reported an error),
/// else `ValueError` with the whole message on one line.
pub(crate) fn py_err(e: anyhow::Error, slot: Option<&ErrSlot>, ctx: Option<&GpuContext>) -> PyErr {
    if let Some(p) = slot.and_then(ErrSlot::take) {
        return p;
    }
    let line = format!("{e:#}");
    if e.chain().any(|c| c.is::<stein::run::Interrupted>()) {
        return PyKeyboardInterrupt::new_err(line);
    }
    if e.chain().any(|c| c.is::<stein::run::Diverged>()) {
        return DivergedError::new_err(line);
    }
    if e.chain()
        .any(|c| c.is::<Panicked>() || c.is::<DeviceFailure>())
    {
        return PyRuntimeError::new_err(line);
    }
    // The library's device errors: a wgpu error it kept, a wait or a map that failed.
    let device_words = [
        "the GPU reported an error",
        "waiting for the GPU",
        "map_async",
        "device lost",
    ];
    if device_words.iter().any(|w| line.contains(w)) {
        return PyRuntimeError::new_err(line);
    }
    if let Some(Err(w)) = ctx.map(|c| c.wait()) {
        return PyRuntimeError::new_err(format!("{line} ({w:#})"));
    }
    PyValueError::new_err(line)
}

/// The device options: the arguments, then the environment as the command line reads it
/// (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, wgpu's instance variables, `STEIN_UNCHECKED`,
/// `STEIN_PHI_LAYOUT`), so that a Python call and `stein` choose the same adapter and kernels.
fn gpu_options(backend: Option<String>, adapter: Option<String>) -> GpuOptions {
    let instance = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    GpuOptions {
        adapter: AdapterChoice {
            backend,
            name: adapter.or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok()),
        },
        backends: wgpu::Backends::from_env(),
        instance_flags: stein::gpu::stein_instance_flags(
            instance.flags,
            std::env::var_os("WGPU_VALIDATION_INDIRECT_CALL").is_some(),
        ),
        backend_options: instance.backend_options,
        unchecked: std::env::var_os("STEIN_UNCHECKED").is_some(),
        phi_layout: std::env::var("STEIN_PHI_LAYOUT")
            .ok()
            .and_then(|s| PhiLayoutChoice::parse(&s)),
    }
}

/// A GPU device with its pipelines: every call made with it reuses the pipelines built by
/// the calls before (the library's pipeline cache), so only the first pays their build.
#[pyclass(frozen, module = "stein._stein")]
pub struct Device {
    pub(crate) ctx: Arc<GpuContext>,
}

#[pymethods]
impl Device {
    #[new]
    #[pyo3(signature = (backend=None, adapter=None))]
    fn new(py: Python<'_>, backend: Option<String>, adapter: Option<String>) -> PyResult<Self> {
        let opts = gpu_options(backend, adapter);
        let ctx = py
            .detach(|| {
                guard(|| {
                    GpuContext::open(&opts).map_err(|e| {
                        // A filter of the caller's that matches nothing is bad input; a
                        // machine without an adapter, or a device that fails to open, is not.
                        let line = format!("{e:#}");
                        let input = line.starts_with("unknown backend")
                            || line.starts_with("no compute-capable adapter matches");
                        if input {
                            e
                        } else {
                            DeviceFailure(line).into()
                        }
                    })
                })
            })
            .map_err(|e| py_err(e, None, None))?;
        Ok(Self { ctx: Arc::new(ctx) })
    }

    /// The adapter's name.
    #[getter]
    fn name(&self) -> String {
        self.ctx.info.name.clone()
    }

    /// The backend: vulkan, metal, dx12 or gl.
    #[getter]
    fn backend(&self) -> String {
        format!("{:?}", self.ctx.info.backend).to_lowercase()
    }

    /// The device type (DiscreteGpu, IntegratedGpu, Cpu, ...).
    #[getter]
    fn device_type(&self) -> String {
        format!("{:?}", self.ctx.info.device_type)
    }

    /// One line naming the adapter, backend, type and driver.
    #[getter]
    fn label(&self) -> String {
        self.ctx.adapter_label()
    }

    /// Distinct pipelines built on this device so far.
    #[getter]
    fn pipelines_built(&self) -> usize {
        self.ctx.pipelines_built()
    }

    fn __repr__(&self) -> String {
        format!("stein.Device({})", self.ctx.adapter_label())
    }
}

/// Every adapter wgpu sees, as dicts.
#[pyfunction]
fn adapters(py: Python<'_>) -> PyResult<Vec<Py<PyDict>>> {
    let opts = gpu_options(None, None);
    let found = py
        .detach(|| {
            guard(|| {
                let list = list_all_adapters(&opts)?;
                Ok(list
                    .iter()
                    .map(|a| {
                        let compute = a
                            .get_downlevel_capabilities()
                            .flags
                            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
                        (a.get_info(), a.limits(), compute)
                    })
                    .collect::<Vec<_>>())
            })
        })
        .map_err(|e| py_err(e, None, None))?;
    found
        .into_iter()
        .map(|(i, l, compute)| {
            let d = PyDict::new(py);
            d.set_item("name", &i.name)?;
            d.set_item("backend", format!("{:?}", i.backend).to_lowercase())?;
            d.set_item("device_type", format!("{:?}", i.device_type))?;
            d.set_item("driver", &i.driver)?;
            d.set_item("driver_info", &i.driver_info)?;
            d.set_item("compute", compute)?;
            d.set_item(
                "max_storage_buffer_binding_size",
                l.max_storage_buffer_binding_size,
            )?;
            d.set_item("max_buffer_size", l.max_buffer_size)?;
            Ok(d.unbind())
        })
        .collect()
}

/// Floats from the Python layer's bytes (float32, C order), `n·d` of them.
pub(crate) fn floats(b: &[u8], n: usize, d: usize, name: &str) -> PyResult<Vec<f32>> {
    if Some(b.len()) != n.checked_mul(d).and_then(|v| v.checked_mul(4)) {
        return Err(PyValueError::new_err(format!(
            "{name}: {} bytes are not {n}×{d} float32 values",
            b.len()
        )));
    }
    Ok(bytemuck::pod_collect_to_vec::<u8, f32>(b))
}

/// Floats as a `bytearray` the Python layer views as a NumPy array.
pub(crate) fn bytes_of<'py>(py: Python<'py>, v: &[f32]) -> Bound<'py, PyByteArray> {
    PyByteArray::new(py, bytemuck::cast_slice(v))
}

/// `median`, `median-sampled` or a positive number.
pub(crate) fn bandwidth(h: &Bound<'_, PyAny>) -> PyResult<Bandwidth> {
    if let Ok(s) = h.extract::<String>() {
        return match s.as_str() {
            "median" => Ok(Bandwidth::Median),
            "median-sampled" => Ok(Bandwidth::MedianSampled),
            other => Err(PyValueError::new_err(format!(
                "h `{other}` is neither \"median\", \"median-sampled\" nor a positive number"
            ))),
        };
    }
    let v: f64 = h.extract().map_err(|_| {
        PyValueError::new_err("h must be \"median\", \"median-sampled\" or a positive number")
    })?;
    let bw = Bandwidth::Fixed(v);
    stein::run::svgd::check_bandwidth(bw)
        .map_err(|e| PyValueError::new_err(format!("{e:#}").replace("--bandwidth", "h")))?;
    Ok(bw)
}

/// What the score of a call is: a target of the library, or a Python function.
pub(crate) enum TargetArg {
    /// A built-in or WGSL target (from a file or JSON text).
    Built(Box<Target>),
    /// A Python function (the package's adapter around the user's score) of dimension d.
    Callable(Arc<Py<PyAny>>, usize),
}

impl TargetArg {
    /// Reads the target: `kind` is "path" (a JSON file), "json" (JSON text; files it names
    /// are relative to the working directory) or "callable" (`value` is the score adapter,
    /// of dimension `d`). `score_batch`: rows per score evaluation of a Bayesian target.
    pub(crate) fn read(
        py: Python<'_>,
        ctx: &GpuContext,
        kind: &str,
        value: &Bound<'_, PyAny>,
        d: usize,
        score_batch: Option<usize>,
    ) -> PyResult<Self> {
        let check = |what: &str, bytes: u64| ctx.check_binding(what, bytes);
        let t = match kind {
            "callable" => {
                if score_batch.is_some() {
                    return Err(PyValueError::new_err(
                        "score_batch applies to targets with data rows (kinds \"logistic\" and \"bnn\", or \"wgsl\" with \"rows\"); a score function batches its own data, leave it out",
                    ));
                }
                return Ok(TargetArg::Callable(Arc::new(value.clone().unbind()), d));
            }
            "path" => {
                let path: PathBuf = value.extract()?;
                py.detach(|| guard(|| load_target(&path, &check)))
            }
            "json" => {
                let text: String = value.extract()?;
                py.detach(|| guard(|| from_json_in(&text, "target", Path::new(""), &check)))
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown target kind {other}"
                )))
            }
        };
        let t = t
            .and_then(|t| t.with_score_batch(score_batch))
            .map_err(|e| py_err(e, None, None))?;
        Ok(TargetArg::Built(Box::new(t)))
    }

    /// The dimension.
    pub(crate) fn dim(&self) -> usize {
        match self {
            TargetArg::Built(t) => t.dim(),
            TargetArg::Callable(_, d) => *d,
        }
    }

    /// The device score: the target's, or a host score calling the Python function, whose
    /// exceptions go to `slot`.
    pub(crate) fn score(&self, ctx: &GpuContext, slot: &ErrSlot) -> Result<Box<dyn Score>> {
        match self {
            TargetArg::Built(t) => stein::svgd::target_score(ctx, t),
            TargetArg::Callable(f, d) => Ok(host_score(f.clone(), *d, slot.clone())),
        }
    }
}

/// The score computed by the Python function `f(x: bytearray, n, d) -> bytes` (the package's
/// adapter around the user's `score(x)`, which checks the shape and converts to float32),
/// called with the GIL taken; an exception it raises is kept in `slot`.
fn host_score(f: Arc<Py<PyAny>>, d: usize, slot: ErrSlot) -> Box<dyn Score> {
    Box::new(stein::score::HostScore::new(
        d,
        move |x: &[f32], s: &mut [f32]| -> Result<()> {
            let n = x.len() / d.max(1);
            Python::attach(|py| -> PyResult<()> {
                let r = f.call1(py, (bytes_of(py, x), n, d))?;
                let b = r.bind(py);
                let b = b.cast::<PyBytes>().map_err(|_| {
                    PyValueError::new_err("the score adapter must return bytes")
                })?;
                let b = b.as_bytes();
                if b.len() != s.len() * 4 {
                    return Err(PyValueError::new_err(format!(
                        "score(x) returned {} values for x of shape ({n}, {d}); return an array of x's shape",
                        b.len() / 4
                    )));
                }
                bytemuck::cast_slice_mut::<f32, u8>(s).copy_from_slice(b);
                Ok(())
            })
            .map_err(|e| {
                let line = e.to_string();
                slot.put(e);
                anyhow!("the score function raised {line}")
            })
        },
    ))
}

/// The library's progress reports to the package's progress bar (an object with
/// `update(done, total)`, `status(line)` and `close()`, or None), and its stop question
/// answered from Python's signal handlers: Ctrl-C makes the computation stop after the step
/// in flight, and the `KeyboardInterrupt` is kept in `slot`.
pub(crate) struct PyProgress {
    pub(crate) bar: Option<Py<PyAny>>,
    pub(crate) slot: ErrSlot,
}

impl PyProgress {
    /// Calls the bar (with the GIL); its exceptions are kept too.
    fn call(&self, f: impl FnOnce(Python<'_>, &Py<PyAny>) -> PyResult<Py<PyAny>>) {
        if let Some(bar) = &self.bar {
            Python::attach(|py| {
                if let Err(e) = f(py, bar) {
                    self.slot.put(e);
                }
            });
        }
    }
}

impl Progress for PyProgress {
    fn update(&mut self, done: u64, total: u64) {
        self.call(|py, bar| bar.call_method1(py, "update", (done, total)));
    }
    fn status(&mut self, line: &str) {
        self.call(|py, bar| bar.call_method1(py, "status", (line,)));
    }
    fn should_stop(&mut self) -> bool {
        if self.slot.is_set() {
            return true;
        }
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(e) => {
                self.slot.put(e);
                true
            }
        })
    }
    fn finish(&mut self) {
        self.call(|py, bar| bar.call_method0(py, "close"));
    }
}

/// The package's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _stein(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Device>()?;
    m.add_class::<engine::SvgdEngine>()?;
    m.add_class::<model::Model>()?;
    m.add("DivergedError", m.py().get_type::<DivergedError>())?;
    m.add_function(wrap_pyfunction!(adapters, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    engine::register(m)?;
    model::register(m)?;
    Ok(())
}
