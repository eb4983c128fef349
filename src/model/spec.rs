//! Model files: which model, its shape, and θ, as safetensors a Python user can load
//! (`safetensors.numpy.load_file`).
//!
//! | model | tensors | metadata |
//! |---|---|---|
//! | `grbm` | `B` \[d, H\], `b` \[d\], `c` \[H\] | `model = grbm` |
//! | `mlp` | `W0` \[d, w₁\], `b0` \[w₁\], `W1` \[w₁, w₂\], `b1` \[w₂\], …, last `b` \[1\] | `model = mlp`, `activation`, `sigma0`, `widths` (JSON list, d first, 1 last) |
//!
//! Files written by `stein train` also carry `config` (the training configuration, JSON) and
//! `transform`, the data [`Transform`] the model was trained in (JSON:
//! `{"d": 2, "u8": null, "standardize": {"mean": [..], "std": [..]}}`, `u8` being `"unit"`,
//! `"raw"` or null, `standardize` null when not standardised).
//!
//! For the MLP, f(x) = z^L(x) − ‖x‖²/(2σ₀²) with z^{l+1} = W_lᵀ a^l + b_l, a^0 = x,
//! a^l = act(z^l) on hidden layers (see [`super::mlp`]).

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::mlp::{Activation, MlpEnergy, MlpKernels, MlpShape};
use super::rbm::{RbmEnergy, RbmKernels, RbmShape};
use super::Energy;
use crate::gpu::GpuContext;
use crate::io::data::Transform;
use crate::io::safetensors::Tensors;

/// A model's kind and shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum ModelSpec {
    /// Gaussian-Bernoulli RBM.
    Grbm {
        /// Visible units.
        d: usize,
        /// Hidden units.
        hidden: usize,
    },
    /// MLP energy.
    Mlp {
        /// Input dimension.
        d: usize,
        /// Hidden widths.
        hidden: Vec<usize>,
        /// softplus, silu or tanh.
        activation: String,
        /// σ₀ of the Gaussian base term.
        sigma0: f64,
    },
}

/// Pipelines of every model kind, built once.
pub struct ModelKernels {
    /// RBM.
    pub rbm: RbmKernels,
    /// MLP (energy and generator layers).
    pub mlp: MlpKernels,
    /// The generator's latent draw and output ops.
    pub gen: super::generator::GenKernels,
}

impl ModelKernels {
    /// Builds the pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Ok(Self {
            rbm: RbmKernels::new(ctx)?,
            mlp: MlpKernels::new(ctx)?,
            gen: super::generator::GenKernels::new(ctx)?,
        })
    }
}

impl ModelSpec {
    /// Input dimension.
    pub fn dim(&self) -> usize {
        match self {
            ModelSpec::Grbm { d, .. } | ModelSpec::Mlp { d, .. } => *d,
        }
    }

    /// The RBM's shape, if it is one.
    pub fn rbm(&self) -> Option<RbmShape> {
        match self {
            ModelSpec::Grbm { d, hidden } => Some(RbmShape { d: *d, h: *hidden }),
            ModelSpec::Mlp { .. } => None,
        }
    }

    /// The MLP's shape, if it is one.
    pub fn mlp(&self) -> Result<Option<MlpShape>> {
        match self {
            ModelSpec::Grbm { .. } => Ok(None),
            ModelSpec::Mlp {
                d,
                hidden,
                activation,
                sigma0,
            } => {
                let shape = MlpShape {
                    d: *d,
                    hidden: hidden.clone(),
                    act: activation.parse::<Activation>()?,
                    sigma0: *sigma0,
                };
                shape.validate()?;
                Ok(Some(shape))
            }
        }
    }

    /// Length of θ; an RBM whose d·H + d + H overflows is an error (the callers size buffers
    /// from it, so it is checked once here rather than by each).
    pub fn n_params(&self) -> Result<usize> {
        Ok(match self {
            ModelSpec::Grbm { d, hidden } => d
                .checked_mul(*hidden)
                .and_then(|v| v.checked_add(d + hidden))
                .with_context(|| {
                    format!("--hidden {hidden} with d = {d}: θ's length overflows; use fewer hidden units")
                })?,
            ModelSpec::Mlp { .. } => self.mlp()?.expect("mlp").len(),
        })
    }

    /// The initial θ: the authors' RBM initialisation, or uniform ±1/√fan_in for the MLP.
    pub fn init_theta(&self, seed: u64) -> Result<Vec<f32>> {
        Ok(match self {
            ModelSpec::Grbm { .. } => crate::train::init_theta(self.rbm().expect("rbm"), seed),
            ModelSpec::Mlp { .. } => self.mlp()?.expect("mlp").init_theta(seed),
        })
    }

    /// f and ∇ₓf of this model at θ for batches of `n` rows.
    pub fn energy<'a>(
        &self,
        ctx: &GpuContext,
        kernels: &'a ModelKernels,
        theta: &[f32],
        n: usize,
    ) -> Result<Box<dyn Energy + 'a>> {
        Ok(match self {
            ModelSpec::Grbm { .. } => Box::new(RbmEnergy::new(
                ctx,
                &kernels.rbm,
                self.rbm().expect("rbm"),
                theta,
                n,
            )?),
            ModelSpec::Mlp { .. } => Box::new(MlpEnergy::new(
                ctx,
                &kernels.mlp,
                self.mlp()?.expect("mlp"),
                theta,
                n,
            )?),
        })
    }

    /// θ as named tensors with the metadata that [`ModelSpec::from_tensors`] reads back.
    pub fn to_tensors(&self, theta: &[f32]) -> Result<Tensors> {
        ensure!(
            theta.len() == self.n_params()?,
            "model: θ has {} values, the shape needs {}",
            theta.len(),
            self.n_params()?
        );
        let mut t = Tensors::default();
        match self {
            ModelSpec::Grbm { d, hidden } => {
                let (d, h) = (*d, *hidden);
                t.tensors
                    .insert("B".into(), (vec![d, h], theta[..d * h].to_vec()));
                t.tensors
                    .insert("b".into(), (vec![d], theta[d * h..d * h + d].to_vec()));
                t.tensors
                    .insert("c".into(), (vec![h], theta[d * h + d..].to_vec()));
                t.metadata.insert("model".into(), "grbm".into());
                t.metadata.insert(
                    "energy".into(),
                    "f(x) = b.x - |x|^2/2 + sum_j log(exp(y_j) + exp(-y_j)), y = B^T x + c".into(),
                );
            }
            ModelSpec::Mlp {
                activation, sigma0, ..
            } => {
                let net = self.mlp()?.expect("mlp").net();
                for l in 0..net.layers() {
                    let (i, o) = (net.fan_in(l), net.fan_out(l));
                    let w = net.w_offset(l);
                    let b = net.b_offset(l);
                    t.tensors
                        .insert(format!("W{l}"), (vec![i, o], theta[w..w + i * o].to_vec()));
                    t.tensors
                        .insert(format!("b{l}"), (vec![o], theta[b..b + o].to_vec()));
                }
                t.metadata.insert("model".into(), "mlp".into());
                t.metadata.insert("activation".into(), activation.clone());
                t.metadata.insert("sigma0".into(), format!("{sigma0:?}"));
                t.metadata
                    .insert("widths".into(), serde_json::to_string(&net.widths)?);
                t.metadata.insert(
                    "energy".into(),
                    "f(x) = z_L - |x|^2/(2 sigma0^2), z_{l+1} = W_l^T a_l + b_l, a_0 = x, a_l = act(z_l)"
                        .into(),
                );
            }
        }
        Ok(t)
    }

    /// Reads a model file's kind, shape and θ.
    pub fn from_tensors(t: &Tensors) -> Result<(ModelSpec, Vec<f32>)> {
        let get = |k: &str| {
            t.tensors
                .get(k)
                .with_context(|| format!("tensor `{k}` missing"))
        };
        match t.metadata.get("model").map(String::as_str) {
            Some("grbm") => {
                let (bs, bm) = get("B")?;
                ensure!(bs.len() == 2, "B must be [d, H]");
                let spec = ModelSpec::Grbm {
                    d: bs[0],
                    hidden: bs[1],
                };
                let (_, b) = get("b")?;
                let (_, c) = get("c")?;
                ensure!(
                    b.len() == bs[0] && c.len() == bs[1],
                    "b or c does not match B's shape"
                );
                let mut theta = bm.clone();
                theta.extend_from_slice(b);
                theta.extend_from_slice(c);
                Ok((spec, theta))
            }
            Some("mlp") => {
                let meta = |k: &str| {
                    t.metadata
                        .get(k)
                        .with_context(|| format!("metadata `{k}` missing"))
                };
                let widths: Vec<usize> = serde_json::from_str(meta("widths")?)
                    .context("metadata `widths` is not a list of integers")?;
                ensure!(
                    widths.len() >= 2 && widths.last() == Some(&1),
                    "metadata `widths` must run from d to 1"
                );
                let spec = ModelSpec::Mlp {
                    d: widths[0],
                    hidden: widths[1..widths.len() - 1].to_vec(),
                    activation: meta("activation")?.clone(),
                    sigma0: meta("sigma0")?
                        .parse()
                        .context("metadata `sigma0` is not a number")?,
                };
                let net = spec.mlp()?.expect("mlp").net();
                // The shapes are checked against the widths before θ is put together, so a file
                // whose metadata claims a huge network allocates nothing for it.
                let mut parts: Vec<&[f32]> = Vec::with_capacity(2 * net.layers());
                for l in 0..net.layers() {
                    let (ws, w) = get(&format!("W{l}"))?;
                    let (bs, b) = get(&format!("b{l}"))?;
                    ensure!(
                        ws == &vec![net.fan_in(l), net.fan_out(l)] && bs == &vec![net.fan_out(l)],
                        "W{l} or b{l} does not match the widths {widths:?}"
                    );
                    parts.push(w);
                    parts.push(b);
                }
                let theta = parts.concat();
                Ok((spec, theta))
            }
            other => bail!(
                "metadata model = {other:?}; give a model written by `stein train` (grbm or mlp)"
            ),
        }
    }

    /// Reads a model file.
    pub fn load(path: &std::path::Path) -> Result<(ModelSpec, Vec<f32>)> {
        let t = Tensors::read(path)?;
        Self::from_tensors(&t).with_context(|| format!("{}", path.display()))
    }

    /// Reads a model file with the data transform it was trained in (`None` for a file
    /// written before model files carried one: treat it as the identity).
    pub fn load_with_transform(
        path: &std::path::Path,
    ) -> Result<(ModelSpec, Vec<f32>, Option<Transform>)> {
        let t = Tensors::read(path)?;
        let (spec, theta) =
            Self::from_tensors(&t).with_context(|| format!("{}", path.display()))?;
        let transform = Transform::from_metadata_of(&t.metadata, spec.dim(), path)?;
        Ok((spec, theta, transform))
    }
}
