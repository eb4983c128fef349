//! The MLP energy of algorithms.md §2 on the device:
//!
//! ```text
//! f(x) = MLP_θ(x) − ‖x‖²/(2σ₀²),   MLP_θ: R^d → R,
//! ```
//!
//! with smooth activations (softplus, SiLU or tanh) on the hidden layers, a linear last layer
//! and σ₀ a fixed hyper-parameter. The f64 reference is [`crate::cpu::mlp`].
//!
//! # θ layout
//!
//! A network of widths w₀ = d, w₁, …, w_L (w_L = 1 for the energy) has L layers; θ is one flat
//! f32 buffer holding, layer after layer (l = 0 … L−1),
//!
//! ```text
//! W_l [w_l, w_{l+1}] row-major (W_l[k, j] at w_offset(l) + k·w_{l+1} + j), then b_l [w_{l+1}]
//! ```
//!
//! so b_l starts at `w_offset(l) + w_l·w_{l+1}` and layer l + 1 right after b_l. Layer l maps
//! a^l to z^{l+1} = W_lᵀ a^l + b_l, a^{l+1} = act(z^{l+1}) for hidden layers, a^0 = x, and the
//! output is z^L. [`MlpNet`] computes the offsets, [`MlpNet::init_theta`] the deterministic
//! initialisation.
//!
//! # Kernels
//!
//! Everything is layer by layer, with the dimensions in a uniform, so the same machinery
//! serves any fully connected network (a generator later): `mlp_forward` per layer stores z
//! and a in the per-batch workspace [`MlpBatch`]; `mlp_backward` per layer turns the cotangent
//! of a layer's output pre-activations into that of its input (times act' of the layer below);
//! `mlp_param_grad` per layer sums a^l ⊗ δ^{l+1} over the batch into that layer's slice of the
//! gradient, each parameter summed by one invocation over i in order (no atomics: reruns are
//! bit-identical). [`MlpKernels::record_backward`] runs them from any output cotangent: the
//! score is the backward pass with cotangent 1 (plus −x/σ₀², added by the input layer's
//! backward), and g = Σᵢ wᵢ ∇_θ f(xᵢ) is the parameter part with cotangent w.
//!
//! Each invocation owns a [`ROWS`] × [`COLS`] tile of outputs (samples × units; for the
//! parameter gradient a [`COLS`] × [`COLS`] tile of θ) in vec4 accumulators: per step of its
//! loop it loads ROWS + COLS values for ROWS·COLS products, which on llvmpipe, where loads
//! and not arithmetic set the pace, halved the time of a 784-256-256-1 forward pass against
//! one output per invocation. Loops run over one layer's width (forward: fan-in, backward:
//! fan-out) or over the batch (parameter gradient), all checked against llvmpipe's loop limit
//! ([`GpuContext::check_loop`]): the parameter gradient there takes batches of at most 60 000
//! rows.
//!
//! Every uniform of a dispatch depends only on the network, n and σ₀; each record takes it from
//! the [`Recorder`]'s arena, so [`MlpBatch`] holds scratch buffers only.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, ensure, Result};

use crate::gpu::params::MlpParams;
use crate::gpu::pipeline::Kernel;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::io::target::SplitMix64;

/// Samples per invocation of `mlp_forward` and `mlp_backward` (their WGSL `const ROWS`).
pub const ROWS: usize = 4;
/// Units per invocation of `mlp_forward` (outputs), `mlp_backward` (inputs) and both sides of
/// `mlp_param_grad`'s parameter tile (their WGSL `const COLS`).
pub const COLS: usize = 4;

/// Workgroup size of every MLP kernel.
const WG: u32 = 64;

/// Flag: the layer's output is activated (hidden layer).
const FLAG_ACT_OUT: u32 = 1;
/// Flag: the layer's input is a hidden layer (its backward multiplies by act').
const FLAG_HIDDEN_IN: u32 = 2;

/// The smooth activation of the hidden layers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// softplus(z) = log(1 + e^z), computed as max(z, 0) + log1p(e^{−|z|}).
    Softplus,
    /// SiLU(z) = z·sigmoid(z) (also called swish).
    #[serde(alias = "swish")]
    #[value(alias = "swish")]
    Silu,
    /// tanh(z).
    Tanh,
}

impl Activation {
    /// Every activation, for tests and help texts.
    pub const ALL: [Activation; 3] = [Activation::Softplus, Activation::Silu, Activation::Tanh];

    /// The code the shaders use (`shaders/common/activation.wgsl`).
    pub fn code(self) -> u32 {
        match self {
            Activation::Softplus => 0,
            Activation::Silu => 1,
            Activation::Tanh => 2,
        }
    }

    /// Lower-case name, as parsed by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Activation::Softplus => "softplus",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "softplus" => Ok(Activation::Softplus),
            "silu" | "swish" => Ok(Activation::Silu),
            "tanh" => Ok(Activation::Tanh),
            other => bail!("unknown activation `{other}`; use softplus, silu or tanh"),
        }
    }
}

/// A fully connected network R^{w₀} → R^{w_L}: widths `[w₀, w₁, …, w_L]`, `act` on every
/// hidden layer, the last layer linear. Offsets of the flat θ as in the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlpNet {
    /// Widths, input first, output last (at least two entries).
    pub widths: Vec<usize>,
    /// Activation of the hidden layers.
    pub act: Activation,
}

impl MlpNet {
    /// Checks that there are at least two widths, all >= 1, and that θ, offsets and one
    /// batch row fit the shaders' u32 indices.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.widths.len() >= 2,
            "mlp: need at least an input and an output width, got {:?}",
            self.widths
        );
        ensure!(
            self.widths.iter().all(|&w| w >= 1),
            "mlp: every width must be at least 1, got {:?}",
            self.widths
        );
        let len = self.widths.windows(2).try_fold(0usize, |acc, w| {
            w[0].checked_add(1)
                .and_then(|a| a.checked_mul(w[1]))
                .and_then(|p| acc.checked_add(p))
        });
        ensure!(
            len.is_some_and(|l| l < u32::MAX as usize / 2),
            "mlp: widths {:?} give more parameters than the shaders can index",
            self.widths
        );
        Ok(())
    }

    /// Number of layers L (weight matrices).
    pub fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// Input width w₀.
    pub fn d(&self) -> usize {
        self.widths[0]
    }

    /// Output width w_L.
    pub fn out(&self) -> usize {
        self.widths[self.widths.len() - 1]
    }

    /// Input width of layer `l`.
    pub fn fan_in(&self, l: usize) -> usize {
        self.widths[l]
    }

    /// Output width of layer `l`.
    pub fn fan_out(&self, l: usize) -> usize {
        self.widths[l + 1]
    }

    /// Offset of layer `l`'s W in θ (the layer's first parameter).
    pub fn w_offset(&self, l: usize) -> usize {
        self.widths[..=l]
            .windows(2)
            .map(|w| (w[0] + 1) * w[1])
            .sum()
    }

    /// Offset of layer `l`'s bias b in θ.
    pub fn b_offset(&self, l: usize) -> usize {
        self.w_offset(l) + self.fan_in(l) * self.fan_out(l)
    }

    /// Index of `W_l[k, j]` (input unit k, output unit j).
    pub fn w(&self, l: usize, k: usize, j: usize) -> usize {
        self.w_offset(l) + k * self.fan_out(l) + j
    }

    /// Index of `b_l[j]`.
    pub fn b(&self, l: usize, j: usize) -> usize {
        self.b_offset(l) + j
    }

    /// Number of parameters Σ_l (w_l + 1)·w_{l+1}.
    pub fn len(&self) -> usize {
        self.w_offset(self.layers())
    }

    /// Always false: a valid network has at least one parameter per layer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deterministic initialisation: every W_l and b_l entry uniform on ±1/√w_l (PyTorch's
    /// `nn.Linear` default), drawn in θ order from `SplitMix64` seeded with `seed`.
    pub fn init_theta(&self, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed ^ 0x3c6e_f372_fe94_f82b);
        let mut theta = Vec::with_capacity(self.len());
        for l in 0..self.layers() {
            let bound = 1.0 / (self.fan_in(l) as f64).sqrt();
            for _ in 0..(self.fan_in(l) + 1) * self.fan_out(l) {
                theta.push((bound * (2.0 * rng.next_f64() - 1.0)) as f32);
            }
        }
        theta
    }
}

/// The MLP energy f(x) = MLP_θ(x) − ‖x‖²/(2σ₀²) with MLP widths `[d, hidden…, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpShape {
    /// Input dimension.
    pub d: usize,
    /// Hidden widths, first to last (may be empty: a linear MLP).
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers.
    pub act: Activation,
    /// σ₀ of the Gaussian term (fixed, not learned).
    pub sigma0: f64,
}

impl MlpShape {
    /// The network R^d → R.
    pub fn net(&self) -> MlpNet {
        let mut widths = Vec::with_capacity(self.hidden.len() + 2);
        widths.push(self.d);
        widths.extend_from_slice(&self.hidden);
        widths.push(1);
        MlpNet {
            widths,
            act: self.act,
        }
    }

    /// Checks the widths and that σ₀ is positive and finite.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.sigma0.is_finite() && self.sigma0 > 0.0,
            "mlp: σ₀ must be positive and finite, got {}",
            self.sigma0
        );
        self.net().validate()
    }

    /// The Gaussian term's coefficient −1/σ₀² (f's Gaussian part is coef/2·‖x‖²).
    pub fn coef(&self) -> f64 {
        -1.0 / (self.sigma0 * self.sigma0)
    }

    /// Number of parameters (see [`MlpNet::len`]).
    pub fn len(&self) -> usize {
        self.net().len()
    }

    /// Always false (see [`MlpNet::is_empty`]).
    pub fn is_empty(&self) -> bool {
        self.net().is_empty()
    }

    /// Number of layers: hidden widths + 1.
    pub fn layers(&self) -> usize {
        self.hidden.len() + 1
    }

    /// Offset of layer `l`'s W in θ.
    pub fn w_offset(&self, l: usize) -> usize {
        self.net().w_offset(l)
    }

    /// Offset of layer `l`'s bias in θ.
    pub fn b_offset(&self, l: usize) -> usize {
        self.net().b_offset(l)
    }

    /// Index of `W_l[k, j]`.
    pub fn w(&self, l: usize, k: usize, j: usize) -> usize {
        self.net().w(l, k, j)
    }

    /// Index of `b_l[j]`.
    pub fn b(&self, l: usize, j: usize) -> usize {
        self.net().b(l, j)
    }

    /// See [`MlpNet::init_theta`].
    pub fn init_theta(&self, seed: u64) -> Vec<f32> {
        self.net().init_theta(seed)
    }
}

/// Per-batch device workspace of a network for `n` rows: every layer's pre-activations,
/// activations and cotangents (scratch: one workspace serves any number of records in one
/// encoder, each reading what the records before it wrote).
pub struct MlpBatch {
    net: MlpNet,
    n: usize,
    /// Pre-activations z^{l+1} of layer l, `[n, w_{l+1}]`, l = 0 … L−1; the last is the
    /// network's output.
    pub z: Vec<GpuVec<f32>>,
    /// Activations a^{l+1} = act(z^{l+1}) of layer l, `[n, w_{l+1}]` (the last layer's is a
    /// copy of its z: the output is linear).
    pub a: Vec<GpuVec<f32>>,
    /// Cotangents δ^{l+1} of the hidden pre-activations z^{l+1}, l = 0 … L−2, from the last
    /// [`MlpKernels::record_backward`] (the output's cotangent is the caller's buffer).
    pub delta: Vec<GpuVec<f32>>,
    /// `[n·w_L]` ones: the output cotangent of the score.
    ones: GpuVec<f32>,
    /// For an energy ([`MlpBatch::new`]; `None` for a plain network): −1/σ₀², the coef of the
    /// score's input-layer backward and of `mlp_energy`.
    coef: Option<f32>,
}

impl MlpBatch {
    /// The workspace of the energy `shape` for batches of `n` rows.
    pub fn new(ctx: &GpuContext, shape: &MlpShape, n: usize) -> Result<Self> {
        shape.validate()?;
        Self::build(ctx, shape.net(), Some(shape.coef() as f32), n)
    }

    /// The workspace of a plain network (no Gaussian term: only
    /// [`MlpKernels::record_forward`] and [`MlpKernels::record_backward`] apply).
    pub fn for_net(ctx: &GpuContext, net: &MlpNet, n: usize) -> Result<Self> {
        net.validate()?;
        Self::build(ctx, net.clone(), None, n)
    }

    fn build(ctx: &GpuContext, net: MlpNet, coef: Option<f32>, n: usize) -> Result<Self> {
        ensure!(n >= 1, "mlp: empty batch");
        let widest = *net.widths.iter().max().unwrap_or(&1);
        ensure!(
            n.checked_mul(widest + ROWS)
                .is_some_and(|v| v < u32::MAX as usize / 2),
            "mlp: a batch of {n} rows of width {widest} is past the shaders' u32 indices"
        );
        let layers = net.layers();
        let mut z = Vec::with_capacity(layers);
        let mut a = Vec::with_capacity(layers);
        let mut delta = Vec::with_capacity(layers);
        for l in 0..layers {
            let w = net.fan_out(l);
            z.push(GpuVec::zeros(ctx, &format!("mlp z{}", l + 1), n * w)?);
            a.push(GpuVec::zeros(ctx, &format!("mlp a{}", l + 1), n * w)?);
            if l + 1 < layers {
                delta.push(GpuVec::zeros(ctx, &format!("mlp delta{}", l + 1), n * w)?);
            }
        }
        Ok(Self {
            ones: GpuVec::from_slice(ctx, "mlp ones", &vec![1.0f32; n * net.out()])?,
            net,
            n,
            z,
            a,
            delta,
            coef,
        })
    }

    /// The uniform of layer `l`'s kernels: n, widths, offset, activation, flags and `coef`
    /// (0, but −1/σ₀² for the score's input-layer backward).
    fn params(&self, l: usize, coef: f32) -> MlpParams {
        let (net, n) = (&self.net, self.n);
        let mut flags = 0;
        if l + 1 < net.layers() {
            flags |= FLAG_ACT_OUT;
        }
        if l > 0 {
            flags |= FLAG_HIDDEN_IN;
        }
        MlpParams {
            n: n as u32,
            fan_in: net.fan_in(l) as u32,
            fan_out: net.fan_out(l) as u32,
            w_off: net.w_offset(l) as u32,
            act: net.act.code(),
            flags,
            coef,
            _pad: 0,
        }
    }

    /// Rows of the batch.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The network the workspace was made for.
    pub fn net(&self) -> &MlpNet {
        &self.net
    }

    /// The network's output z^L, `[n, w_L]`, after [`MlpKernels::record_forward`].
    pub fn output(&self) -> &GpuVec<f32> {
        &self.z[self.z.len() - 1]
    }

    /// Bytes of device memory held (activations, cotangents, ones).
    pub fn device_bytes(&self) -> u64 {
        let sum = |v: &[GpuVec<f32>]| v.iter().map(GpuVec::bytes).sum::<u64>();
        sum(&self.z) + sum(&self.a) + sum(&self.delta) + self.ones.bytes()
    }
}

/// Where [`MlpKernels::record_backward`] writes the vector-Jacobian product uᵀJ of an output
/// cotangent u (`[n, w_L]`): the input part Σ_j u_ij ∂out_ij/∂x_i per row and/or the
/// parameter part Σ_i Σ_j u_ij ∂out_ij/∂θ.
#[derive(Clone, Copy, Default)]
pub struct Vjp<'a> {
    /// Input cotangent `[n, w₀]`, or `None` to skip the input layer's backward.
    pub dx: Option<&'a GpuVec<f32>>,
    /// Parameter cotangent (θ's length), or `None`.
    pub dtheta: Option<&'a GpuVec<f32>>,
}

/// The MLP pipelines.
pub struct MlpKernels {
    forward: Kernel,
    backward: Kernel,
    param_grad: Kernel,
    energy: Kernel,
    /// Caps the workgroups along x of every dispatch (`None`: the device's
    /// `max_compute_workgroups_per_dimension`). Dispatches past it become 2-D grids, which
    /// otherwise only batches of millions of rows need; tests set a small cap to run them.
    pub groups_cap: Option<u32>,
}

impl MlpKernels {
    /// A 2-D grid of workgroups covering `items` invocations (the kernels flatten it as
    /// `gid.x + gid.y · num_workgroups.x · WG`), so no batch size hits the per-dimension
    /// limit.
    fn grid(&self, ctx: &GpuContext, kernel: &Kernel, items: usize) -> Result<(u32, u32, u32)> {
        let groups = (items as u64).div_ceil(u64::from(kernel.wg));
        let mut max = u64::from(ctx.limits.max_compute_workgroups_per_dimension);
        if let Some(cap) = self.groups_cap {
            max = max.min(u64::from(cap.max(1)));
        }
        if groups <= max {
            return Ok((groups as u32, 1, 1));
        }
        let rows = ctx.check_groups(kernel.name, groups.div_ceil(max))?;
        Ok((max as u32, rows, 1))
    }

    /// Builds the pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Ok(Self {
            forward: Kernel::new(ctx, &shader::MLP_FORWARD, WG)?,
            backward: Kernel::new(ctx, &shader::MLP_BACKWARD, WG)?,
            param_grad: Kernel::new(ctx, &shader::MLP_PARAM_GRAD, WG)?,
            energy: Kernel::new(ctx, &shader::MLP_ENERGY, WG)?,
            groups_cap: None,
        })
    }

    fn check_theta(batch: &MlpBatch, theta: &GpuVec<f32>) -> Result<()> {
        ensure!(
            theta.len == batch.net.len(),
            "mlp: θ has {} values, widths {:?} need {}",
            theta.len,
            batch.net.widths,
            batch.net.len()
        );
        Ok(())
    }

    fn check_rows(batch: &MlpBatch, v: &GpuVec<f32>, width: usize, what: &str) -> Result<()> {
        ensure!(
            v.len >= batch.n * width,
            "mlp: {what} `{}` has {} values, a batch of {} rows of width {width} needs {}",
            v.label,
            v.len,
            batch.n,
            batch.n * width
        );
        Ok(())
    }

    /// Records the forward pass for the first n rows of `x` (`[n, w₀]`): every layer's z and
    /// a into the workspace, the output in [`MlpBatch::output`]. Every other record needs it
    /// first (in the same or an earlier submit, with the same x and θ).
    pub fn record_forward(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &MlpBatch,
    ) -> Result<()> {
        Self::check_theta(batch, theta)?;
        Self::check_rows(batch, x, batch.net.d(), "input")?;
        let net = &batch.net;
        for l in 0..net.layers() {
            ctx.check_loop("mlp_forward", net.fan_in(l) as u64 + 1)?;
            let input = if l == 0 { x } else { &batch.a[l - 1] };
            let items = batch.n.div_ceil(ROWS) * net.fan_out(l).div_ceil(COLS);
            let params = enc.uniform(ctx, &batch.params(l, 0.0));
            self.forward.record_with(
                ctx,
                enc,
                &params,
                &[
                    &theta.buffer,
                    &input.buffer,
                    &batch.z[l].buffer,
                    &batch.a[l].buffer,
                ],
                self.grid(ctx, &self.forward, items)?,
            )?;
        }
        Ok(())
    }

    /// Records the vector-Jacobian product of the output cotangent `cotangent` (`[n, w_L]`)
    /// after [`MlpKernels::record_forward`]: layer by layer from the last, the parameter
    /// gradient of each layer into `out.dtheta` (Σ over the batch, fixed order) and the
    /// cotangent of its input (the workspace's δ, and for layer 0 `out.dx`). The cotangent
    /// may be any buffer, e.g. the batch weights w for g = Σᵢ wᵢ ∇_θ out(xᵢ).
    #[allow(clippy::too_many_arguments)]
    pub fn record_backward(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &MlpBatch,
        cotangent: &GpuVec<f32>,
        out: Vjp<'_>,
    ) -> Result<()> {
        self.record_vjp(ctx, enc, theta, x, batch, cotangent, out, 0.0)
    }

    #[allow(clippy::too_many_arguments)]
    fn record_vjp(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &MlpBatch,
        cotangent: &GpuVec<f32>,
        out: Vjp<'_>,
        input_coef: f32,
    ) -> Result<()> {
        let net = &batch.net;
        Self::check_theta(batch, theta)?;
        Self::check_rows(batch, x, net.d(), "input")?;
        Self::check_rows(batch, cotangent, net.out(), "output cotangent")?;
        ensure!(
            out.dx.is_some() || out.dtheta.is_some(),
            "mlp backward: nothing to compute (neither dx nor dθ asked for)"
        );
        if let Some(dx) = out.dx {
            Self::check_rows(batch, dx, net.d(), "input cotangent")?;
        }
        if let Some(g) = out.dtheta {
            ensure!(
                g.len == net.len(),
                "mlp: gradient `{}` has {} values, θ has {}",
                g.label,
                g.len,
                net.len()
            );
            ctx.check_loop(
                "mlp_param_grad (one invocation sums the batch)",
                batch.n as u64 + 1,
            )
            .map_err(|e| {
                e.context(format!(
                    "the parameter gradient of a batch of {} rows",
                    batch.n
                ))
            })?;
        }
        for l in (0..net.layers()).rev() {
            let delta_out = if l + 1 == net.layers() {
                cotangent
            } else {
                &batch.delta[l]
            };
            let layer = enc.uniform(ctx, &batch.params(l, 0.0));
            if let Some(g) = out.dtheta {
                let a_in = if l == 0 { x } else { &batch.a[l - 1] };
                let items = (net.fan_in(l) + 1).div_ceil(COLS) * net.fan_out(l).div_ceil(COLS);
                self.param_grad.record_with(
                    ctx,
                    enc,
                    &layer,
                    &[&a_in.buffer, &delta_out.buffer, &g.buffer],
                    self.grid(ctx, &self.param_grad, items)?,
                )?;
            }
            let (params, z_in, delta_in) = match (l, out.dx) {
                (0, None) => continue,
                (0, Some(dx)) => (enc.uniform(ctx, &batch.params(0, input_coef)), x, dx),
                _ => (layer, &batch.z[l - 1], &batch.delta[l - 1]),
            };
            ctx.check_loop("mlp_backward", net.fan_out(l) as u64 + 1)?;
            let items = batch.n.div_ceil(ROWS) * net.fan_in(l).div_ceil(COLS);
            self.backward.record_with(
                ctx,
                enc,
                &params,
                &[
                    &theta.buffer,
                    &delta_out.buffer,
                    &z_in.buffer,
                    &delta_in.buffer,
                ],
                self.grid(ctx, &self.backward, items)?,
            )?;
        }
        Ok(())
    }

    /// −1/σ₀² of an energy's workspace.
    fn energy_coef(batch: &MlpBatch) -> Result<f32> {
        match batch.coef {
            Some(c) => Ok(c),
            None => bail!(
                "mlp: this workspace was made for a plain network (MlpBatch::for_net); \
                 the energy needs MlpBatch::new with an MlpShape"
            ),
        }
    }

    /// Records f(xᵢ) = MLP(xᵢ) − ‖xᵢ‖²/(2σ₀²) into `f` (`[n]`), after
    /// [`MlpKernels::record_forward`] of the same `x`.
    pub fn record_energy(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        batch: &MlpBatch,
        f: &GpuVec<f32>,
    ) -> Result<()> {
        let coef = Self::energy_coef(batch)?;
        Self::check_rows(batch, x, batch.net.d(), "input")?;
        Self::check_rows(batch, f, 1, "energy output")?;
        ctx.check_loop("mlp_energy", batch.net.d() as u64 + 1)?;
        let params = enc.uniform(
            ctx,
            &MlpParams {
                n: batch.n as u32,
                fan_in: batch.net.d() as u32,
                fan_out: 1,
                coef,
                ..Default::default()
            },
        );
        self.energy.record_with(
            ctx,
            enc,
            &params,
            &[&x.buffer, &batch.output().buffer, &f.buffer],
            self.grid(ctx, &self.energy, batch.n)?,
        )
    }

    /// Records the score ∇ₓf(xᵢ) = ∇ₓMLP(xᵢ) − xᵢ/σ₀² into `score` (`[n, d]`), after
    /// [`MlpKernels::record_forward`] of the same `x`: the backward pass with cotangent 1.
    pub fn record_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &MlpBatch,
        score: &GpuVec<f32>,
    ) -> Result<()> {
        let coef = Self::energy_coef(batch)?;
        let out = Vjp {
            dx: Some(score),
            dtheta: None,
        };
        self.record_vjp(ctx, enc, theta, x, batch, &batch.ones, out, coef)
    }

    /// Records g = Σᵢ wᵢ ∇_θ f(xᵢ) into `g` (θ's length), after
    /// [`MlpKernels::record_forward`] of the same `x`: the parameter part of the backward pass
    /// with cotangent w (`[n]`). The sum runs over i in order in one invocation per parameter:
    /// deterministic, and refused past the loop limit of llvmpipe (n > 60 000 there).
    #[allow(clippy::too_many_arguments)]
    pub fn record_grad(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &MlpBatch,
        w: &GpuVec<f32>,
        g: &GpuVec<f32>,
    ) -> Result<()> {
        Self::energy_coef(batch)?;
        let out = Vjp {
            dx: None,
            dtheta: Some(g),
        };
        self.record_backward(ctx, enc, theta, x, batch, w, out)
    }
}

/// The MLP energy as an [`Energy`](super::Energy): θ uploaded once, workspace for `n` rows.
pub struct MlpEnergy<'a> {
    kernels: &'a MlpKernels,
    shape: MlpShape,
    theta: GpuVec<f32>,
    batch: MlpBatch,
}

impl<'a> MlpEnergy<'a> {
    /// Uploads θ for batches of `n` rows.
    pub fn new(
        ctx: &GpuContext,
        kernels: &'a MlpKernels,
        shape: MlpShape,
        theta: &[f32],
        n: usize,
    ) -> Result<Self> {
        shape.validate()?;
        ensure!(
            theta.len() == shape.len(),
            "mlp: θ has {} values, the shape needs {}",
            theta.len(),
            shape.len()
        );
        Ok(Self {
            kernels,
            theta: GpuVec::from_slice(ctx, "mlp theta", theta)?,
            batch: MlpBatch::new(ctx, &shape, n)?,
            shape,
        })
    }

    /// The energy's shape.
    pub fn shape(&self) -> &MlpShape {
        &self.shape
    }
}

impl super::Energy for MlpEnergy<'_> {
    fn dim(&self) -> usize {
        self.shape.d
    }
    fn batch(&self) -> usize {
        self.batch.n
    }
    fn record_energy_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        f: &GpuVec<f32>,
        score: &GpuVec<f32>,
    ) -> Result<()> {
        let k = self.kernels;
        k.record_forward(ctx, enc, &self.theta, x, &self.batch)?;
        k.record_energy(ctx, enc, x, &self.batch, f)?;
        k.record_score(ctx, enc, &self.theta, x, &self.batch, score)
    }
    fn device_bytes(&self) -> u64 {
        self.theta.bytes() + self.batch.device_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_offsets_tile_theta() {
        let net = MlpNet {
            widths: vec![3, 5, 2, 1],
            act: Activation::Tanh,
        };
        assert_eq!(net.len(), (3 + 1) * 5 + (5 + 1) * 2 + (2 + 1));
        let mut seen = vec![0u32; net.len()];
        for l in 0..net.layers() {
            for k in 0..net.fan_in(l) {
                for j in 0..net.fan_out(l) {
                    seen[net.w(l, k, j)] += 1;
                }
            }
            for j in 0..net.fan_out(l) {
                seen[net.b(l, j)] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
        assert_eq!(net.w(1, 0, 0), 20);
        assert_eq!(net.b(1, 0), 30);
        assert_eq!(net.w(2, 1, 0), 33);
    }

    #[test]
    fn init_is_deterministic_and_bounded() {
        let shape = MlpShape {
            d: 4,
            hidden: vec![9],
            act: Activation::Silu,
            sigma0: 2.0,
        };
        let t = shape.init_theta(7);
        assert_eq!(t, shape.init_theta(7));
        assert_ne!(t, shape.init_theta(8));
        assert_eq!(t.len(), shape.len());
        let net = shape.net();
        for l in 0..net.layers() {
            let bound = 1.0 / (net.fan_in(l) as f32).sqrt();
            let slice = &t[net.w_offset(l)..net.w_offset(l + 1)];
            assert!(slice.iter().all(|v| v.abs() <= bound));
            assert!(slice.iter().any(|v| v.abs() > 0.5 * bound));
        }
    }

    #[test]
    fn activation_names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        assert!("relu".parse::<Activation>().is_err());
    }

    #[test]
    fn wgsl_tile_constants_match_rust() {
        let check = |spec: &shader::ShaderSpec, name: &str, want: usize| {
            let module = naga::front::wgsl::parse_str(&spec.source()).unwrap();
            let (_, c) = module
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{}: no const {name}", spec.name));
            assert!(
                matches!(
                    module.global_expressions[c.init],
                    naga::Expression::Literal(naga::Literal::U32(v)) if v as usize == want
                ),
                "{}: {name}",
                spec.name
            );
        };
        for spec in [&shader::MLP_FORWARD, &shader::MLP_BACKWARD] {
            check(spec, "ROWS", ROWS);
            check(spec, "COLS", COLS);
        }
        check(&shader::MLP_PARAM_GRAD, "COLS", COLS);
    }
}

/// The MLP energy as a [`Trainable`](super::Trainable) model.
#[derive(Clone)]
pub struct MlpModel<'a> {
    /// Pipelines.
    pub kernels: &'a MlpKernels,
    /// Shape.
    pub shape: MlpShape,
}

impl super::Trainable for MlpModel<'_> {
    type Work = MlpBatch;
    fn dim(&self) -> usize {
        self.shape.d
    }
    fn n_params(&self) -> usize {
        self.shape.len()
    }
    fn work(&self, ctx: &GpuContext, n: usize) -> Result<MlpBatch> {
        MlpBatch::new(ctx, &self.shape, n)
    }
    fn record_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        work: &MlpBatch,
        score: &GpuVec<f32>,
    ) -> Result<()> {
        self.kernels.record_forward(ctx, enc, theta, x, work)?;
        self.kernels.record_score(ctx, enc, theta, x, work, score)
    }
    fn record_grad(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        work: &MlpBatch,
        weights: &GpuVec<f32>,
        g: &GpuVec<f32>,
        f: Option<&GpuVec<f32>>,
    ) -> Result<()> {
        self.kernels.record_forward(ctx, enc, theta, x, work)?;
        self.kernels
            .record_grad(ctx, enc, theta, x, work, weights, g)?;
        if let Some(f) = f {
            self.kernels.record_energy(ctx, enc, x, work, f)?;
        }
        Ok(())
    }
}
