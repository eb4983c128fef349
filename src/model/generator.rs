//! The SteinGAN generator x = G(z; η) of algorithms.md §3.3 on the device: a fully connected
//! network [`MlpNet`] with widths `[n_z, hidden…, d]` (the MLP kernels of [`super::mlp`]),
//! z ~ U(−1, 1)^{n_z} drawn from the counter-based hash, and an optional sigmoid on the output
//! (images in [0, 1]). The f64 reference is [`crate::cpu::generator`].
//!
//! The generator step back-propagates an output cotangent (the SVGD direction φ at the
//! generated samples) through G: dη = scale · Σᵢ ∂G(zᵢ)/∂η · φᵢ, where for the sigmoid output
//! the cotangent of the network's linear output is φᵢ ⊙ xᵢ(1 − xᵢ).
//!
//! # File
//!
//! `generator.safetensors`: tensors `W0` \[n_z, w₁\], `b0` \[w₁\], …, `b{L−1}` \[d\] (θ layout of
//! [`super::mlp`]), metadata `model = generator`, `widths` (JSON, n_z first, d last),
//! `activation` (hidden layers), `output` (identity or sigmoid), `nz`.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::mlp::{Activation, MlpBatch, MlpKernels, MlpNet, Vjp};
use crate::gpu::params::{GenParams, PairParams};
use crate::gpu::pipeline::Kernel;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::io::safetensors::Tensors;
use crate::kernels::{pair_params, Kernels};

/// The generator's output activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GenOutput {
    /// x = the network's linear output.
    #[default]
    #[value(alias = "linear")]
    Identity,
    /// x = sigmoid(output), in (0, 1) (images).
    Sigmoid,
}

impl GenOutput {
    /// Lower-case name, as parsed by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            GenOutput::Identity => "identity",
            GenOutput::Sigmoid => "sigmoid",
        }
    }
}

impl fmt::Display for GenOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GenOutput {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "identity" | "linear" => Ok(GenOutput::Identity),
            "sigmoid" => Ok(GenOutput::Sigmoid),
            other => bail!("unknown generator output `{other}`; use identity or sigmoid"),
        }
    }
}

/// A generator's shape: the network R^{n_z} → R^d and its output activation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenSpec {
    /// The network, widths `[n_z, hidden…, d]`.
    pub net: MlpNet,
    /// Output activation.
    pub output: GenOutput,
}

impl GenSpec {
    /// The generator with `nz` latent dimensions, `hidden` widths and output dimension `d`.
    pub fn new(
        nz: usize,
        hidden: &[usize],
        d: usize,
        act: Activation,
        output: GenOutput,
    ) -> Result<Self> {
        ensure!(nz >= 1, "--nz (latent dimension) must be at least 1");
        let mut widths = vec![nz];
        widths.extend_from_slice(hidden);
        widths.push(d);
        let net = MlpNet { widths, act };
        net.validate()?;
        Ok(Self { net, output })
    }

    /// Latent dimension n_z.
    pub fn nz(&self) -> usize {
        self.net.d()
    }

    /// Output dimension d.
    pub fn d(&self) -> usize {
        self.net.out()
    }

    /// Length of η.
    pub fn len(&self) -> usize {
        self.net.len()
    }

    /// Always false (a network has parameters).
    pub fn is_empty(&self) -> bool {
        self.net.is_empty()
    }

    /// The initial η (uniform ±1/√fan_in, [`MlpNet::init_theta`]) of a run seeded `seed`.
    pub fn init_eta(&self, seed: u64) -> Vec<f32> {
        self.net.init_theta(seed ^ 0x6765_6e65_7261_746f)
    }

    /// η as named tensors with the metadata [`GenSpec::from_tensors`] reads back.
    pub fn to_tensors(&self, eta: &[f32]) -> Result<Tensors> {
        let net = &self.net;
        ensure!(
            eta.len() == net.len(),
            "generator: η has {} values, the widths need {}",
            eta.len(),
            net.len()
        );
        let mut t = Tensors::default();
        for l in 0..net.layers() {
            let (i, o) = (net.fan_in(l), net.fan_out(l));
            let (w, b) = (net.w_offset(l), net.b_offset(l));
            t.tensors
                .insert(format!("W{l}"), (vec![i, o], eta[w..w + i * o].to_vec()));
            t.tensors
                .insert(format!("b{l}"), (vec![o], eta[b..b + o].to_vec()));
        }
        t.metadata.insert("model".into(), "generator".into());
        t.metadata
            .insert("widths".into(), serde_json::to_string(&net.widths)?);
        t.metadata.insert("activation".into(), net.act.to_string());
        t.metadata
            .insert("output".into(), self.output.name().to_string());
        t.metadata.insert("nz".into(), self.nz().to_string());
        t.metadata.insert(
            "generator".into(),
            "x = out(z_L), z ~ U(-1, 1)^nz, z_{l+1} = W_l^T a_l + b_l, a_0 = z, a_l = act(z_l)"
                .into(),
        );
        Ok(t)
    }

    /// Reads a generator file's shape and η.
    pub fn from_tensors(t: &Tensors) -> Result<(GenSpec, Vec<f32>)> {
        let meta = |k: &str| {
            t.metadata
                .get(k)
                .with_context(|| format!("metadata `{k}` missing"))
        };
        ensure!(
            t.metadata.get("model").map(String::as_str) == Some("generator"),
            "metadata model = {:?}, not a generator; give the generator.safetensors of a \
             `stein train --algo stein-gan` or `--algo hybrid` run",
            t.metadata.get("model")
        );
        let widths: Vec<usize> = serde_json::from_str(meta("widths")?)
            .context("metadata `widths` is not a list of integers")?;
        ensure!(widths.len() >= 2, "metadata `widths` needs n_z and d");
        let act: Activation = meta("activation")?.parse()?;
        let output: GenOutput = meta("output")?.parse()?;
        let spec = GenSpec::new(
            widths[0],
            &widths[1..widths.len() - 1],
            widths[widths.len() - 1],
            act,
            output,
        )?;
        let net = &spec.net;
        // The shapes are checked against the widths before η is put together, so a file
        // whose metadata claims a huge network allocates nothing for it.
        let mut parts: Vec<&[f32]> = Vec::with_capacity(2 * net.layers());
        for l in 0..net.layers() {
            let get = |k: String| {
                t.tensors
                    .get(&k)
                    .with_context(|| format!("tensor `{k}` missing"))
            };
            let (ws, w) = get(format!("W{l}"))?;
            let (bs, b) = get(format!("b{l}"))?;
            ensure!(
                ws == &vec![net.fan_in(l), net.fan_out(l)] && bs == &vec![net.fan_out(l)],
                "W{l} or b{l} does not match the widths {widths:?}"
            );
            parts.push(w);
            parts.push(b);
        }
        let eta = parts.concat();
        Ok((spec, eta))
    }

    /// Reads a generator file.
    pub fn load(path: &std::path::Path) -> Result<(GenSpec, Vec<f32>)> {
        let t = Tensors::read(path)?;
        Self::from_tensors(&t).with_context(|| format!("{}", path.display()))
    }

    /// Reads a generator file with the data transform its run was trained in (`None` for a
    /// file written before generator files carried one: treat it as the identity).
    pub fn load_with_transform(
        path: &std::path::Path,
    ) -> Result<(GenSpec, Vec<f32>, Option<crate::io::data::Transform>)> {
        let t = Tensors::read(path)?;
        let (spec, eta) = Self::from_tensors(&t).with_context(|| format!("{}", path.display()))?;
        let transform = crate::io::data::Transform::from_metadata_of(&t.metadata, spec.d(), path)?;
        Ok((spec, eta, transform))
    }
}

/// Per-batch device workspace of a generator for `n` samples (scratch buffers only: every
/// uniform comes from the [`Recorder`]'s arena).
pub struct GenBatch {
    spec: GenSpec,
    n: usize,
    /// Latent draws `[n, n_z]`.
    pub z: GpuVec<f32>,
    /// Samples x = G(z) `[n, d]`.
    pub x: GpuVec<f32>,
    /// Output cotangent of the network's linear output `[n, d]`.
    pub cot: GpuVec<f32>,
    /// φ normalised by the kernel row sums `[n, d]` (row-sum normalisation only).
    phin: GpuVec<f32>,
    /// Off-diagonal kernel row sums `[2n]` (mmd_rows layout).
    rows: GpuVec<f32>,
    dummy: GpuVec<f32>,
    mlp: MlpBatch,
}

impl GenBatch {
    /// The workspace of `spec` for batches of `n` samples.
    pub fn new(ctx: &GpuContext, spec: &GenSpec, n: usize) -> Result<Self> {
        let (nz, d) = (spec.nz(), spec.d());
        Ok(Self {
            spec: spec.clone(),
            n,
            z: GpuVec::zeros(ctx, "generator z", n * nz)?,
            x: GpuVec::zeros(ctx, "generator x", n * d)?,
            cot: GpuVec::zeros(ctx, "generator cotangent", n * d)?,
            phin: GpuVec::zeros(ctx, "generator phi / row sums", n * d)?,
            rows: GpuVec::zeros(ctx, "generator kernel row sums", 2 * n)?,
            dummy: GpuVec::zeros(ctx, "generator dummy", 1)?,
            mlp: MlpBatch::for_net(ctx, &spec.net, n)?,
        })
    }

    /// Samples per batch.
    pub fn n(&self) -> usize {
        self.n
    }

    /// φ after [`GenKernels::record_rowsum_norm`].
    pub fn rowsum_phi(&self) -> &GpuVec<f32> {
        &self.phin
    }

    /// The generator's shape.
    pub fn spec(&self) -> &GenSpec {
        &self.spec
    }
}

/// The generator's pipelines (the MLP layers come from [`MlpKernels`]).
pub struct GenKernels {
    ops: Kernel,
}

impl GenKernels {
    /// Builds the pipeline.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Ok(Self {
            ops: Kernel::new(ctx, &shader::GENERATOR_OPS, 256)?,
        })
    }

    fn op(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        p: GenParams,
        (a, b, out): (&GpuVec<f32>, &GpuVec<f32>, &GpuVec<f32>),
    ) -> Result<()> {
        let params = enc.uniform(ctx, &p);
        let g = self.ops.groups_for(ctx, p.len as usize)?;
        self.ops
            .record_with(ctx, enc, &params, &[&a.buffer, &b.buffer, &out.buffer], g)
    }

    /// Records z ~ U(−1, 1)^{n × n_z} from stream `key` (element e of z from counter e), then
    /// x = G(z; η) into `batch.x`.
    pub fn record_sample(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        mlp: &MlpKernels,
        eta: &GpuVec<f32>,
        batch: &GenBatch,
        key: u32,
    ) -> Result<()> {
        let p = GenParams {
            len: batch.z.len as u32,
            key,
            mode: 0,
            ..Default::default()
        };
        self.op(ctx, enc, p, (&batch.dummy, &batch.dummy, &batch.z))?;
        self.record_forward(ctx, enc, mlp, eta, batch)
    }

    /// Records x = G(z; η) for the latent draws already in `batch.z`.
    pub fn record_forward(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        mlp: &MlpKernels,
        eta: &GpuVec<f32>,
        batch: &GenBatch,
    ) -> Result<()> {
        mlp.record_forward(ctx, enc, eta, &batch.z, &batch.mlp)?;
        let out = batch.mlp.output();
        match batch.spec.output {
            GenOutput::Identity => {
                enc.copy_buffer_to_buffer(&out.buffer, 0, &batch.x.buffer, 0, batch.x.bytes());
                Ok(())
            }
            GenOutput::Sigmoid => {
                let p = GenParams {
                    len: batch.x.len as u32,
                    mode: 1,
                    ..Default::default()
                };
                self.op(ctx, enc, p, (out, &batch.dummy, &batch.x))
            }
        }
    }

    /// Records φᵢ · n / Σ_j k(xᵢ, x_j) (`rowsum` normalisation of a count-normalised φ at
    /// `batch.x`, bandwidth `h`) into [`GenBatch::rowsum_phi`].
    pub fn record_rowsum_norm(
        &self,
        ctx: &GpuContext,
        k: &Kernels,
        enc: &mut Recorder,
        batch: &GenBatch,
        phi: &GpuVec<f32>,
        h: f64,
    ) -> Result<()> {
        let (n, d) = (batch.n, batch.spec.d());
        ensure!(
            h > 0.0 && h.is_finite(),
            "bandwidth h = {h} must be positive"
        );
        let plan = k.mmd_plan(ctx, n, d)?;
        let g = k.mmd_rows.groups_for(ctx, n)?;
        for &(j_begin, j_end, flags) in &plan {
            let u = enc.uniform(
                ctx,
                &PairParams {
                    j_begin,
                    j_end,
                    flags,
                    aux: n as u32,
                    ..pair_params(n, d, h)
                },
            );
            k.mmd_rows
                .record_with(ctx, enc, &u, &[&batch.x.buffer, &batch.rows.buffer], g)?;
        }
        let p = GenParams {
            len: (n * d) as u32,
            mode: 4,
            d: d as u32,
            scale: n as f32,
            ..Default::default()
        };
        self.op(ctx, enc, p, (phi, &batch.rows, &batch.phin))
    }

    /// Records dη = scale · Σᵢ ∂G(zᵢ)/∂η · φᵢ into `g` (η's length), after
    /// [`GenKernels::record_forward`] of the same z and η: the output cotangent scale·φ (times
    /// x(1 − x) for the sigmoid output) back-propagated through the network.
    #[allow(clippy::too_many_arguments)]
    pub fn record_eta_grad(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        mlp: &MlpKernels,
        eta: &GpuVec<f32>,
        batch: &GenBatch,
        phi: &GpuVec<f32>,
        scale: f64,
        g: &GpuVec<f32>,
    ) -> Result<()> {
        ensure!(
            phi.len >= batch.x.len,
            "generator: φ `{}` has {} values, the batch needs {}",
            phi.label,
            phi.len,
            batch.x.len
        );
        let p = GenParams {
            len: batch.x.len as u32,
            mode: match batch.spec.output {
                GenOutput::Identity => 2,
                GenOutput::Sigmoid => 3,
            },
            scale: scale as f32,
            ..Default::default()
        };
        self.op(ctx, enc, p, (phi, &batch.x, &batch.cot))?;
        let out = Vjp {
            dx: None,
            dtheta: Some(g),
        };
        mlp.record_backward(ctx, enc, eta, &batch.z, &batch.mlp, &batch.cot, out)
    }
}

/// `n` samples x = G(z; η), z ~ U(−1, 1)^{n_z} from stream `key`, on the host (one submit).
pub fn sample(
    ctx: &GpuContext,
    gk: &GenKernels,
    mlp: &MlpKernels,
    spec: &GenSpec,
    eta: &[f32],
    n: usize,
    key: u32,
) -> Result<Vec<f32>> {
    let eta = GpuVec::from_slice(ctx, "generator eta", eta)?;
    let batch = GenBatch::new(ctx, spec, n)?;
    let mut enc = Recorder::new(ctx);
    gk.record_sample(ctx, &mut enc, mlp, &eta, &batch, key)?;
    enc.submit(ctx);
    batch.x.read(ctx)
}
