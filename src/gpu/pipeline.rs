//! A compute kernel ready to record: pipeline plus explicit bind-group layout (explicit, so
//! a binding that the shader stops using is an error here, not a far-away mismatch).
//!
//! [`Recorder`]: super::Recorder

use anyhow::{bail, ensure, Result};

use super::arena::UniformSlot;
use super::shader::ShaderSpec;
use super::GpuContext;

/// How a binding is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `var<uniform>`.
    Uniform,
    /// `var<storage, read>`.
    ReadOnly,
    /// `var<storage, read_write>`.
    ReadWrite,
    /// `texture_storage_2d<rgba32float, read>` read with `textureLoad`: a read-only storage
    /// texture, whose loads llvmpipe inlines, where a sampled texture's go through its sampler
    /// code (see `svgd_phi_shuffle`).
    Texture,
    /// `texture_storage_2d<rgba32float, write>` written with `textureStore`.
    TextureWrite,
}

/// How a recorded pass gets its workgroup counts.
enum Dispatch<'a> {
    /// Given by the host.
    Direct((u32, u32, u32)),
    /// Read by the device from a buffer at a byte offset.
    Indirect(&'a wgpu::Buffer, u64),
}

/// One compiled compute kernel.
pub struct Kernel {
    /// Entry point / file stem.
    pub name: &'static str,
    /// Workgroup size the pipeline was built with.
    pub wg: u32,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    bindings: &'static [Binding],
}

/// Storage buffers and storage textures a binding table uses in one shader stage (all our
/// bindings are visible to the compute stage only).
pub fn storage_counts(bindings: &[Binding]) -> (u32, u32) {
    let buffers = bindings
        .iter()
        .filter(|b| matches!(b, Binding::ReadOnly | Binding::ReadWrite))
        .count();
    let textures = bindings
        .iter()
        .filter(|b| matches!(b, Binding::Texture | Binding::TextureWrite))
        .count();
    (buffers as u32, textures as u32)
}

/// Checks `name`'s binding table against the device's per-stage storage limits, so that a
/// kernel the device cannot bind is a one-line error naming it, not a validation error from
/// deep inside wgpu.
pub fn check_storage_limits(name: &str, bindings: &[Binding], limits: &wgpu::Limits) -> Result<()> {
    let (buffers, textures) = storage_counts(bindings);
    ensure!(
        buffers <= limits.max_storage_buffers_per_shader_stage,
        "kernel `{name}` binds {buffers} storage buffers, more than this adapter's \
         max_storage_buffers_per_shader_stage = {}; use an adapter that allows {buffers}",
        limits.max_storage_buffers_per_shader_stage
    );
    ensure!(
        textures <= limits.max_storage_textures_per_shader_stage,
        "kernel `{name}` binds {textures} storage textures, more than this adapter's \
         max_storage_textures_per_shader_stage = {}; use an adapter that allows {textures}",
        limits.max_storage_textures_per_shader_stage
    );
    Ok(())
}

impl Kernel {
    /// Builds the pipeline inside a validation error scope, with the binding table of
    /// `spec`; the error names the kernel.
    pub fn new(ctx: &GpuContext, spec: &ShaderSpec, wg: u32) -> Result<Self> {
        Self::with_constants(ctx, spec, wg, &[])
    }

    /// Like [`Kernel::new`], with further `override` values (e.g. a dimension `D` that makes
    /// loops constant-trip so the compiler unrolls them and keeps arrays in registers).
    pub fn with_constants(
        ctx: &GpuContext,
        spec: &ShaderSpec,
        wg: u32,
        extra: &[(&str, f64)],
    ) -> Result<Self> {
        let mut constants = vec![("WG", f64::from(wg))];
        constants.extend_from_slice(extra);
        let trusted = spec.trusted || ctx.options.unchecked;
        Self::build(
            ctx,
            spec.name,
            spec.source(),
            spec.bindings,
            trusted,
            &constants,
        )
        .map(|k| Self { wg, ..k })
    }

    /// A kernel from WGSL assembled at run time (a user's target, which stein cannot vouch
    /// for: always built with wgpu's runtime checks), entry point `name`, its workgroup size
    /// `wg` given to the override `wg_override.0`.
    pub fn from_source(
        ctx: &GpuContext,
        name: &'static str,
        source: &str,
        bindings: &'static [Binding],
        (wg_override, wg): (&str, u32),
    ) -> Result<Self> {
        let constants = [(wg_override, f64::from(wg))];
        Self::build(ctx, name, source.to_string(), bindings, false, &constants)
            .map(|k| Self { wg, ..k })
            // One line: wgpu's validation errors span several.
            .map_err(|e| {
                anyhow::anyhow!(e
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "))
            })
    }

    /// The kernel of entry point `name` in `source` with its explicit layout `bindings`: the
    /// device's pipeline for these (source, override values, checks) if one was built before
    /// (by any [`Kernel`] on this [`GpuContext`]), else a new one, kept for the next.
    fn build(
        ctx: &GpuContext,
        name: &'static str,
        source: String,
        bindings: &'static [Binding],
        trusted: bool,
        constants: &[(&str, f64)],
    ) -> Result<Self> {
        check_storage_limits(name, bindings, &ctx.limits)?;
        let source = match ctx.params_in_storage() {
            true => params_as_storage(name, source, bindings, &ctx.limits)?,
            false => source,
        };
        let key = PipelineKey {
            name,
            source_hash: fnv1a(source.as_bytes()),
            constants: constants
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_bits()))
                .collect(),
            trusted,
            bindings,
        };
        // Held while a pipeline is built: two kernels asking for the same one at once build
        // it once. (Building is cheap next to its first dispatch on a CPU driver, which
        // compiles it; that happens outside the lock.)
        let mut cache = ctx
            .pipelines
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (pipeline, layout) = match cache.get(&key) {
            Some(built) => built.clone(),
            None => {
                let built = Self::compile(ctx, name, source, bindings, trusted, constants)?;
                cache.insert(key, built.clone());
                built
            }
        };
        Ok(Self {
            name,
            wg: 0,
            pipeline,
            layout,
            bindings,
        })
    }

    /// Builds the pipeline and its bind-group layout inside a validation error scope.
    fn compile(
        ctx: &GpuContext,
        name: &'static str,
        source: String,
        bindings: &'static [Binding],
        trusted: bool,
        constants: &[(&str, f64)],
    ) -> Result<(wgpu::ComputePipeline, wgpu::BindGroupLayout)> {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match b {
                    Binding::Texture | Binding::TextureWrite => wgpu::BindingType::StorageTexture {
                        access: if *b == Binding::Texture {
                            wgpu::StorageTextureAccess::ReadOnly
                        } else {
                            wgpu::StorageTextureAccess::WriteOnly
                        },
                        format: wgpu::TextureFormat::Rgba32Float,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                    _ => wgpu::BindingType::Buffer {
                        ty: match b {
                            Binding::Uniform if ctx.params_in_storage() => {
                                wgpu::BufferBindingType::Storage { read_only: true }
                            }
                            Binding::Uniform => wgpu::BufferBindingType::Uniform,
                            Binding::ReadOnly => {
                                wgpu::BufferBindingType::Storage { read_only: true }
                            }
                            _ => wgpu::BufferBindingType::Storage { read_only: false },
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        log::trace!("building `{name}`:\n{source}");
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = ctx
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(name),
                entries: &entries,
            });
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        let module = if trusted {
            // SAFETY: a trusted kernel's header proves its indices in bounds and its loops
            // finite from sizes its host wrapper checks before every dispatch;
            // `GpuOptions::unchecked` is the user's own opt-in for measurements.
            unsafe {
                ctx.device
                    .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            ctx.device.create_shader_module(desc)
        };
        let pipeline_layout = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(name),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    ..Default::default()
                },
                cache: None,
            });
        if let Some(err) = pollster::block_on(scope.pop()) {
            bail!("building pipeline `{name}` with {constants:?}: {err}");
        }
        log::debug!("built pipeline `{name}` ({constants:?})");
        Ok((pipeline, layout))
    }

    /// Records one dispatch of `groups` workgroups with the uniform (binding 0, every kernel's)
    /// from a [`Recorder`](super::Recorder)'s arena and `buffers` bound from binding 1 on.
    /// There is no way to bind a uniform from a buffer of one's own: a uniform written with
    /// `queue.write_buffer` from a record function would alias within the encoder.
    pub fn record_with(
        &self,
        ctx: &GpuContext,
        enc: &mut super::Recorder,
        uniform: &UniformSlot,
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32, u32),
    ) -> Result<()> {
        let mut resources = vec![uniform.binding()];
        resources.extend(buffers.iter().map(|b| b.as_entire_binding()));
        self.record_resources(ctx, enc, &resources, groups)
    }

    /// [`Kernel::record_with`] for kernels that also bind textures: `resources` in binding
    /// order, the uniform a [`UniformSlot::binding`].
    pub fn record_resources(
        &self,
        ctx: &GpuContext,
        enc: &mut super::Recorder,
        resources: &[wgpu::BindingResource],
        groups: (u32, u32, u32),
    ) -> Result<()> {
        let max = ctx.limits.max_compute_workgroups_per_dimension;
        if groups.0 > max || groups.1 > max || groups.2 > max {
            bail!(
                "{}: {groups:?} workgroups exceed max_compute_workgroups_per_dimension = {max}",
                self.name
            );
        }
        if groups.0 == 0 || groups.1 == 0 || groups.2 == 0 {
            // Never skip silently: an empty dispatch leaves stale outputs behind.
            bail!(
                "{}: empty dispatch {groups:?}; the caller must reject empty inputs",
                self.name
            );
        }
        self.record_dispatch(ctx, enc, resources, Dispatch::Direct(groups))
    }

    /// [`Kernel::record_resources`] with the workgroup counts read by the device from
    /// `args` at byte `offset` (three u32: x, y, z), as an earlier pass of the same encoder
    /// wrote them. The device opens without wgpu's check of those counts
    /// ([`super::context::stein_instance_flags`]): the kernel that writes them must keep each
    /// within `max_compute_workgroups_per_dimension`. A count of 0 dispatches nothing: the
    /// kernels dispatched so (the device median's exceptional passes) write only what a later
    /// stage reads when they ran.
    pub fn record_indirect(
        &self,
        ctx: &GpuContext,
        enc: &mut super::Recorder,
        resources: &[wgpu::BindingResource],
        args: &wgpu::Buffer,
        offset: u64,
    ) -> Result<()> {
        self.record_dispatch(ctx, enc, resources, Dispatch::Indirect(args, offset))
    }

    fn record_dispatch(
        &self,
        ctx: &GpuContext,
        enc: &mut super::Recorder,
        resources: &[wgpu::BindingResource],
        dispatch: Dispatch,
    ) -> Result<()> {
        if resources.len() != self.bindings.len() {
            bail!(
                "{}: {} resources given for {} bindings",
                self.name,
                resources.len(),
                self.bindings.len()
            );
        }
        for (i, (r, b)) in resources.iter().zip(self.bindings).enumerate() {
            let texture = matches!(r, wgpu::BindingResource::TextureView(_));
            ensure!(
                texture == matches!(b, Binding::Texture | Binding::TextureWrite),
                "{}: binding {i} is a {b:?}, given {}",
                self.name,
                if texture { "a texture" } else { "a buffer" }
            );
        }
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: r.clone(),
            })
            .collect();
        let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.layout,
            entries: &entries,
        });
        // While a recording is timed (`stein bench --profile`), a pass of its own with its
        // start and end; otherwise the recorder's open pass.
        let timed = ctx.timestamp_slot(self.name);
        let mut own;
        let pass = match &timed {
            Some((set, i)) => {
                enc.end_pass();
                let own_pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(self.name),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: set,
                        beginning_of_pass_write_index: Some(*i),
                        end_of_pass_write_index: Some(*i + 1),
                    }),
                });
                own = own_pass.forget_lifetime();
                &mut own
            }
            None => enc.pass(),
        };
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &group, &[]);
        match dispatch {
            Dispatch::Direct((x, y, z)) => pass.dispatch_workgroups(x, y, z),
            Dispatch::Indirect(args, offset) => pass.dispatch_workgroups_indirect(args, offset),
        }
        Ok(())
    }

    /// The dispatch grid covering `items` invocations of a kernel that indexes
    /// `gid.x + gid.y · (num_workgroups.x · WG)` and ignores indices ≥ its item count: one row
    /// of workgroups while they fit the device's per-dimension limit (65535 on most), else rows
    /// of that width (so n·d past 4.2 million elements still dispatches).
    pub fn groups_for(&self, ctx: &GpuContext, items: usize) -> Result<(u32, u32, u32)> {
        let groups = (items as u64).div_ceil(u64::from(self.wg)).max(1);
        let max = u64::from(ctx.limits.max_compute_workgroups_per_dimension).max(1);
        let rows = groups.div_ceil(max);
        ensure!(
            rows <= max && groups * u64::from(self.wg) <= u64::from(u32::MAX),
            "{} needs {groups} workgroups, more than this adapter can index; use fewer particles",
            self.name
        );
        Ok((groups.min(max) as u32, rows as u32, 1))
    }
}

/// The declaration of a kernel's parameters, binding 0 (every kernel's, stein's and a WGSL
/// target's prelude alike).
const UNIFORM_PARAMS: &str = "@group(0) @binding(0) var<uniform>";

/// `source` with its parameters (binding 0) declared a read-only storage buffer, for devices
/// that read them so ([`GpuContext::params_in_storage`]): the one declaration rewritten, the
/// binding counted against the storage-buffer limit.
fn params_as_storage(
    name: &str,
    source: String,
    bindings: &[Binding],
    limits: &wgpu::Limits,
) -> Result<String> {
    if bindings.first() != Some(&Binding::Uniform) {
        return Ok(source);
    }
    let (buffers, _) = storage_counts(bindings);
    ensure!(
        buffers < limits.max_storage_buffers_per_shader_stage,
        "kernel `{name}` binds {} storage buffers with its parameters, more than this \
         adapter's max_storage_buffers_per_shader_stage = {}; use an adapter that allows {}",
        buffers + 1,
        limits.max_storage_buffers_per_shader_stage,
        buffers + 1
    );
    if source.matches(UNIFORM_PARAMS).count() != 1 {
        // Not stein's one declaration (a WGSL target that declares binding 0 again, say):
        // left as it is, for wgpu's validation to name what is wrong.
        return Ok(source);
    }
    Ok(source.replacen(
        UNIFORM_PARAMS,
        "@group(0) @binding(0) var<storage, read>",
        1,
    ))
}

/// What makes two pipelines the same: the entry point, its WGSL, its override values (as
/// bits, so that the key is `Eq`), whether its runtime checks are off, and its bindings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PipelineKey {
    name: &'static str,
    source_hash: u64,
    constants: Vec<(String, u64)>,
    trusted: bool,
    bindings: &'static [Binding],
}

/// The pipelines built on one device ([`GpuContext`]'s), shared by every [`Kernel`] made
/// there: a second [`crate::kernels::Kernels`] (another φ layout's, a model's, a later call's)
/// builds none of them again, where on a CPU driver each unrolled kernel is seconds of
/// shader compilation at its first dispatch.
#[derive(Default)]
pub(crate) struct PipelineCache(
    std::sync::Mutex<
        std::collections::HashMap<PipelineKey, (wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
    >,
);

impl PipelineCache {
    /// Pipelines built so far.
    pub(crate) fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// 64-bit FNV-1a of a WGSL source: the generated sources differ per variant, and a collision
/// would also need the same entry point and override values.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Binding::{ReadOnly as R, ReadWrite as W, Texture as T, TextureWrite as TW, Uniform as U};

    #[test]
    fn storage_counts_separate_buffers_from_textures_and_skip_uniforms() {
        assert_eq!(storage_counts(&[U]), (0, 0));
        assert_eq!(storage_counts(&[U, R, R, W]), (3, 0));
        assert_eq!(storage_counts(&[U, R, R, W, W, T, T]), (4, 2));
        assert_eq!(storage_counts(&[U, R, R, R, TW, W]), (4, 1));
    }

    /// On CPU adapters every kernel's parameters become a read-only storage buffer
    /// ([`GpuContext::params_in_storage`]): each registered kernel declares them once, and the
    /// rewritten kernel is valid WGSL with binding 0 in the storage address space.
    #[test]
    fn every_kernel_reads_its_parameters_from_storage_once_rewritten() {
        let limits = wgpu::Limits::default();
        for spec in crate::gpu::shader::ALL {
            assert_eq!(spec.bindings.first(), Some(&U), "{}", spec.name);
            let source = spec.source();
            assert_eq!(source.matches(UNIFORM_PARAMS).count(), 1, "{}", spec.name);
            let rewritten = params_as_storage(spec.name, source, spec.bindings, &limits).unwrap();
            assert!(!rewritten.contains("var<uniform>"), "{}", spec.name);
            let module = naga::front::wgsl::parse_str(&rewritten)
                .unwrap_or_else(|e| panic!("{}: {}", spec.name, e.emit_to_string(&rewritten)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::SUBGROUP,
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {}", spec.name, e.emit_to_string(&rewritten)));
            let params = module
                .global_variables
                .iter()
                .find(|(_, g)| {
                    g.binding
                        .as_ref()
                        .is_some_and(|b| (b.group, b.binding) == (0, 0))
                })
                .expect("binding 0");
            assert_eq!(
                params.1.space,
                naga::AddressSpace::Storage {
                    access: naga::StorageAccess::LOAD
                },
                "{}",
                spec.name
            );
        }
        // Past the storage-buffer limit with the parameters counted: refused by name.
        let eight = [U, R, R, R, R, W, W, W, W];
        let err = params_as_storage("eight", String::new(), &eight, &limits)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`eight`") && err.contains("9 storage buffers"),
            "{err}"
        );
    }

    #[test]
    fn a_kernel_past_the_storage_limits_is_refused_by_name() {
        // WebGPU's defaults: 8 storage buffers and 4 storage textures per stage.
        let limits = wgpu::Limits::default();
        let eight = [U, R, R, R, R, W, W, W, W];
        check_storage_limits("eight", &eight, &limits).unwrap();
        let nine = [U, R, R, R, R, R, W, W, W, W];
        let err = check_storage_limits("nine", &nine, &limits)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`nine`")
                && err.contains("9 storage buffers")
                && err.contains("max_storage_buffers_per_shader_stage = 8"),
            "{err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
        let textures = [U, T, T, T, T, TW];
        let err = check_storage_limits("tex", &textures, &limits)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max_storage_textures_per_shader_stage = 4"),
            "{err}"
        );
        // Every registered kernel fits WebGPU's default limits (the ones the device must
        // give at least).
        for spec in crate::gpu::shader::ALL {
            check_storage_limits(spec.name, spec.bindings, &limits).unwrap();
        }
    }
}
