//! # stein
//!
//! Stein variational gradient descent (SVGD) and energy-based models on any GPU through wgpu,
//! with every hot loop in a WGSL compute shader and a plain f64 reference beside it.
//!
//! The workflows (an SVGD run, a training job with its run directory, evaluation, sampling)
//! are library calls in [`run`]; the `stein` command line is a thin layer over them.
//!
//! SVGD moves particles x_1..x_n by x_i ← x_i + ε·update(φ(x_i)) with
//!
//! ```text
//! φ(x_i) = (1/n) Σ_j [ k(x_j, x_i) ∇log p(x_j) + ∇_{x_j} k(x_j, x_i) ],  k(x, y) = exp(−‖x − y‖²/h)
//! ```
//!
//! and h = med / log(n + 1), med the median of all n² squared distances (diagonal included,
//! NumPy's even-count mean). Conventions: `shared/docs/algorithms.md` §1.
//!
//! The crate from the bottom up (`docs/architecture.md` has the kernel table: which WGSL
//! kernel computes which term for which d and adapter, its host wrapper and f64 reference):
//! - [`gpu`]: the device, typed buffers, the shader registry, pipelines and the uniform arena;
//! - [`kernels`]: one typed host wrapper per WGSL kernel, recording and never submitting;
//! - [`bandwidth`], [`direction`], [`median`]: the kernel bandwidth and the Stein direction
//!   (score → bandwidth → φ → update) that every algorithm records through;
//! - [`score`]: targets written in WGSL by the user, and a score computed by a Rust closure;
//! - [`svgd`], [`train`], [`ais`], [`eval`], [`mmd`], [`bench`](mod@bench): the algorithms, which own the
//!   device state and decide when to submit and read back;
//! - [`model`]: the energies (RBM, MLP) and the SteinGAN generator;
//! - [`run`]: the workflows the command line (and any Rust caller) calls;
//! - [`cpu`]: the f64 references, one per kernel; [`io`]: files.
//!
//! No kernel holds an n×n matrix: each invocation keeps its rows in registers and walks the
//! columns in the same order as every other invocation (so a GPU serves each column from one
//! cache line), in chunks of columns that keep llvmpipe under its loop limit
//! ([`gpu::GpuContext::loop_budget`]); reductions run in a fixed order (no float atomics), so a
//! rerun on the same device is bit-identical.
#![warn(missing_docs)]

pub mod ais;
pub mod bandwidth;
pub mod bench;
pub mod cpu;
pub mod direction;
pub mod eval;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod median;
pub mod mmd;
pub mod model;
pub mod run;
pub mod score;
pub mod svgd;
pub mod train;
