//! Opening a device. The adapter is chosen explicitly (backend and name filters, then the most
//! capable device type) rather than by `request_adapter`, so that `stein info` and the choice
//! made by every other command agree, and a filter that matches nothing says what exists.

use anyhow::{bail, Context, Result};

/// How the user asked for an adapter: `--backend` and `--adapter` (the command line fills
/// `name` from `WGPU_ADAPTER_NAME` when `--adapter` is absent).
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    /// Backend name: vulkan, metal, dx12 or gl.
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter's name.
    pub name: Option<String>,
}

/// Which φ kernels to use for d >= 5, when the user overrides the device's default
/// (`crate::kernels::PhiLayout::default_for`; for benchmarks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhiLayoutChoice {
    /// One row per invocation.
    Lane,
    /// Subgroup shuffles (falls back to tiled where the device has no fixed subgroup size).
    Shuffle,
    /// Rows tiled in registers.
    Tiled,
    /// Tiles of pairs as matrix products (falls back to lane where the device lacks room).
    Gemm,
}

impl PhiLayoutChoice {
    /// `lane`, `shuffle`, `tiled` or `gemm`; anything else is no choice.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "lane" => Some(Self::Lane),
            "shuffle" => Some(Self::Shuffle),
            "tiled" => Some(Self::Tiled),
            "gemm" => Some(Self::Gemm),
            _ => None,
        }
    }
}

/// Everything the library takes from outside the program to open a device and build its
/// kernels. The library reads no environment variable: the command line fills these from
/// `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, wgpu's instance variables, `STEIN_UNCHECKED` and
/// `STEIN_PHI_LAYOUT`, as wgpu reads its own only in the `*_from_env` constructors an
/// application chooses to call.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// The adapter asked for.
    pub adapter: AdapterChoice,
    /// Backends searched when `adapter.backend` is unset (`WGPU_BACKEND`); `None`: Vulkan,
    /// Metal and DX12, then GL when they have no adapter.
    pub backends: Option<wgpu::Backends>,
    /// The wgpu instance's flags ([`stein_instance_flags`] of wgpu's defaults unless the
    /// application takes them from the environment).
    pub instance_flags: wgpu::InstanceFlags,
    /// The wgpu instance's backend options.
    pub backend_options: wgpu::BackendOptions,
    /// Build every kernel without wgpu's runtime checks (`STEIN_UNCHECKED`, for measurements).
    pub unchecked: bool,
    /// The φ layout, where the user overrides the device's default (`STEIN_PHI_LAYOUT`).
    pub phi_layout: Option<PhiLayoutChoice>,
}

/// The device every kernel runs on, with what we need to know about it.
pub struct GpuContext {
    /// The logical device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Name, backend, device type and driver of the adapter.
    pub info: wgpu::AdapterInfo,
    /// Limits granted to the device (the adapter's own, all of them requested).
    pub limits: wgpu::Limits,
    /// The options it was opened with.
    pub options: GpuOptions,
    /// Errors wgpu reported outside an error scope (out of memory, validation); checked by
    /// [`GpuContext::wait`] so that no stale result is returned after one.
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Uniform arena blocks that submitted recorders gave back ([`super::Recorder::submit`]).
    pub(crate) arena_pool: std::sync::Mutex<Vec<wgpu::Buffer>>,
    /// Every pipeline built on this device, by its source and override values
    /// ([`super::pipeline::Kernel::with_constants`]): a second [`crate::kernels::Kernels`] (a
    /// model's kernels, another φ layout's, a Python call's) reuses them instead of building
    /// them again, which on a CPU driver is seconds of shader compilation per unrolled kernel.
    pub(crate) pipelines: super::pipeline::PipelineCache,
    /// Queue submissions made on this device ([`GpuContext::counts`]).
    submits: std::sync::atomic::AtomicU64,
    /// Readbacks (buffers mapped and read on the host) made on this device.
    readbacks: std::sync::atomic::AtomicU64,
    /// The pass timer while a recording is timed ([`GpuContext::time_passes`]).
    pub(crate) timer: std::sync::Mutex<Option<super::timer::PassTimer>>,
}

/// What the host asked of a device so far: every queue submission (a readback's copy
/// included) and every readback (a buffer mapped and read on the host). A step that stays on
/// the device is one submit and no readback; [`GpuContext::counts`] before and after tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GpuCounts {
    /// Queue submissions.
    pub submits: u64,
    /// Readbacks.
    pub readbacks: u64,
}

impl std::ops::Sub for GpuCounts {
    type Output = GpuCounts;
    fn sub(self, rhs: GpuCounts) -> GpuCounts {
        GpuCounts {
            submits: self.submits - rhs.submits,
            readbacks: self.readbacks - rhs.readbacks,
        }
    }
}

/// Message for a machine with no usable adapter: what to install.
pub const NO_ADAPTER_HELP: &str = "no GPU adapter found; install a Vulkan driver, or on a machine \
without a GPU Mesa's lavapipe (Debian/Ubuntu: apt-get install mesa-vulkan-drivers)";

fn parse_backends(opts: &GpuOptions) -> Result<wgpu::Backends> {
    match opts.adapter.backend.as_deref() {
        // GL last: EGL on a headless machine prints noise, and compute there is a fallback.
        None => Ok(opts.backends.unwrap_or(wgpu::Backends::PRIMARY)),
        Some(b) => Ok(match b.to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            other => bail!("unknown backend `{other}`; use one of vulkan, metal, dx12, gl"),
        }),
    }
}

fn device_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn supports_compute(a: &wgpu::Adapter) -> bool {
    a.get_downlevel_capabilities()
        .flags
        .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
}

/// Every adapter wgpu can see for the chosen backends (no name filter). Without a backend
/// choice this is Vulkan, Metal and DX12 (`GpuOptions::backends` overrides); `stein info
/// --backend gl` lists GL adapters.
pub fn list_adapters(opts: &GpuOptions) -> Result<Vec<wgpu::Adapter>> {
    list_backend_adapters(opts, parse_backends(opts)?)
}

/// Every adapter of every backend compiled in (GL included; `GpuOptions::backends`
/// narrows), for `stein info`.
pub fn list_all_adapters(opts: &GpuOptions) -> Result<Vec<wgpu::Adapter>> {
    match opts.adapter.backend {
        Some(_) => list_adapters(opts),
        None => list_backend_adapters(opts, opts.backends.unwrap_or(wgpu::Backends::all())),
    }
}

fn list_backend_adapters(
    opts: &GpuOptions,
    backends: wgpu::Backends,
) -> Result<Vec<wgpu::Adapter>> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    desc.flags = opts.instance_flags;
    desc.backend_options = opts.backend_options.clone();
    let instance = wgpu::Instance::new(desc);
    Ok(pollster::block_on(instance.enumerate_adapters(backends)))
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!(
        "\"{}\" ({:?}, {:?})",
        info.name, info.backend, info.device_type
    )
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            adapter: AdapterChoice::default(),
            backends: None,
            instance_flags: stein_instance_flags(wgpu::InstanceFlags::default(), false),
            backend_options: wgpu::BackendOptions::default(),
            unchecked: false,
            phi_layout: None,
        }
    }
}

/// The instance flags stein opens its device with: `flags` (wgpu's defaults, or what its
/// environment variables make of them) without wgpu's validation of indirect dispatches,
/// unless `asked` (`WGPU_VALIDATION_INDIRECT_CALL` was set). wgpu checks every indirect
/// dispatch's workgroup counts with a compute pass of its own before it runs, on behalf of
/// code that cannot bound them; stein's indirect dispatches (the device median's rare passes,
/// recorded every step, empty unless needed) read counts its own one-workgroup stages write,
/// each bounded by a size the host checked against the device's limits when it planned them.
/// The check adds a dispatch of its own per indirect dispatch: on llvmpipe 0.1–0.15 ms a step
/// at n = 64–128 in one alternated comparison of the guessed list pass (banana target), within
/// the noise of a later one (`bench/llvmpipe-2cores-2026-12-07-guessed-list/`).
pub fn stein_instance_flags(mut flags: wgpu::InstanceFlags, asked: bool) -> wgpu::InstanceFlags {
    if !asked {
        flags.remove(wgpu::InstanceFlags::VALIDATION_INDIRECT_CALL);
    }
    flags
}

impl GpuContext {
    /// Opens the best adapter for `choice` with the other options at their defaults
    /// ([`GpuContext::open`]).
    pub fn new(choice: &AdapterChoice) -> Result<Self> {
        Self::open(&GpuOptions {
            adapter: choice.clone(),
            ..Default::default()
        })
    }

    /// Opens the best adapter: compute-capable, matching the filters, discrete before
    /// integrated before software.
    pub fn open(opts: &GpuOptions) -> Result<Self> {
        let choice = &opts.adapter;
        let mut adapters = list_adapters(opts)?;
        if adapters.is_empty() && choice.backend.is_none() && opts.backends.is_none() {
            let gl = GpuOptions {
                adapter: AdapterChoice {
                    backend: Some("gl".into()),
                    ..choice.clone()
                },
                ..opts.clone()
            };
            adapters = list_adapters(&gl)?;
        }
        if adapters.is_empty() {
            bail!("{NO_ADAPTER_HELP}");
        }
        let name = choice.name.clone().map(|s| s.to_lowercase());
        let mut candidates: Vec<wgpu::Adapter> = adapters
            .iter()
            .filter(|a| supports_compute(a))
            .filter(|a| {
                name.as_ref()
                    .is_none_or(|n| a.get_info().name.to_lowercase().contains(n))
            })
            .cloned()
            .collect();
        if candidates.is_empty() {
            let seen: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
            bail!(
                "no compute-capable adapter matches {}{}; adapters found: {}; see `stein info`",
                name.map(|n| format!("name `{n}`")).unwrap_or_default(),
                choice
                    .backend
                    .as_ref()
                    .map(|b| format!(" on backend {b}"))
                    .unwrap_or_default(),
                seen.join(", ")
            );
        }
        candidates.sort_by_key(|a| {
            let i = a.get_info();
            (
                device_rank(i.device_type),
                i.backend != wgpu::Backend::Vulkan,
            )
        });
        let adapter = candidates.swap_remove(0);
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("stein"),
            required_limits: limits.clone(),
            // Subgroups serve svgd_phi_shuffle and pair_bracket_shuffle (CPU adapters);
            // timestamps `stein bench --profile` (GpuContext::time_passes).
            required_features: adapter.features()
                & (wgpu::Features::SUBGROUP | wgpu::Features::TIMESTAMP_QUERY),
            ..Default::default()
        }))
        .with_context(|| format!("opening a device on {}", describe(&info)))?;
        log::info!("adapter: {}", describe(&info));
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string().lines().next().unwrap_or("").to_string());
            }
        }));
        Ok(Self {
            device,
            queue,
            info,
            limits,
            options: opts.clone(),
            errors,
            arena_pool: Default::default(),
            pipelines: Default::default(),
            submits: Default::default(),
            readbacks: Default::default(),
            timer: Default::default(),
        })
    }

    /// Opens the default adapter (no filters; no environment variable is read).
    pub fn default_adapter() -> Result<Self> {
        Self::new(&AdapterChoice::default())
    }

    /// How many distinct pipelines have been built on this device: every kernel object made
    /// here shares them (a second [`crate::kernels::Kernels`] builds none).
    pub fn pipelines_built(&self) -> usize {
        self.pipelines.len()
    }

    /// Submissions and readbacks made on this device so far (all threads together: a count
    /// of one piece of work needs the device to itself while it runs).
    pub fn counts(&self) -> GpuCounts {
        use std::sync::atomic::Ordering::Relaxed;
        GpuCounts {
            submits: self.submits.load(Relaxed),
            readbacks: self.readbacks.load(Relaxed),
        }
    }

    /// Submits command buffers to the queue, counted ([`GpuContext::counts`]): every submit
    /// of the library goes through here.
    pub fn submit<I: IntoIterator<Item = wgpu::CommandBuffer>>(
        &self,
        buffers: I,
    ) -> wgpu::SubmissionIndex {
        self.submits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.queue.submit(buffers)
    }

    /// Counts one readback ([`GpuContext::counts`]); the one place that maps a buffer for
    /// reading calls it.
    pub(crate) fn count_readback(&self) {
        self.readbacks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether every kernel reads its parameters (binding 0) as a read-only storage buffer
    /// instead of a uniform: on CPU adapters. Mesa's lavapipe (22.3, Debian 12's) inlines the
    /// values of a uniform that decides a branch or a loop bound into a freshly compiled copy
    /// of the shader at every dispatch of it, and never frees the copies: a run grew by a
    /// compiled shader per dispatch (`stein svgd`, d = 16: about 1.4 MB a step, without
    /// bound). It inlines nothing from storage buffers. The bytes are the same (a uniform's
    /// layout is its storage layout); the results were bit for bit the same in every run
    /// compared (svgd on each target kind and φ layout, train, sample, eval).
    pub fn params_in_storage(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// One line naming the adapter, for logs, benchmark tables and JSON.
    pub fn adapter_label(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info
        )
    }

    /// Checks that a storage binding of `bytes` fits this device; names the limit otherwise.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<()> {
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > max {
            bail!(
                "{what} needs {}, more than max_storage_buffer_binding_size = {} on \"{}\"; use fewer particles or dimensions",
                human_bytes(bytes),
                human_bytes(max),
                self.info.name
            );
        }
        Ok(())
    }

    /// Checks a 1-D workgroup count against `max_compute_workgroups_per_dimension`.
    pub fn check_groups(&self, what: &str, groups: u64) -> Result<u32> {
        let max = u64::from(self.limits.max_compute_workgroups_per_dimension);
        if groups > max {
            bail!(
                "{what} needs {groups} workgroups in one dimension, more than \
                 max_compute_workgroups_per_dimension = {max} on \"{}\"; use fewer particles",
                self.info.name
            );
        }
        Ok(groups as u32)
    }

    /// Loop iterations one invocation may run in total, where the driver caps it: llvmpipe
    /// (Mesa's software rasterizer, lavapipe) silently ends every loop of an invocation after
    /// 65535 iterations in sum (`LP_MAX_TGSI_LOOP_ITERATIONS`), so kernels there split their
    /// column loops into chunks (a margin is kept for the kernels' other loops). Other drivers
    /// get chunks that keep one dispatch short.
    pub fn loop_budget(&self) -> u64 {
        self.loop_limit().unwrap_or(1 << 20)
    }

    /// The hard per-invocation loop limit, where the driver has one (llvmpipe).
    pub fn loop_limit(&self) -> Option<u64> {
        self.info
            .name
            .to_ascii_lowercase()
            .contains("llvmpipe")
            .then_some(60_000)
    }

    /// Fails with a clear message when a kernel would loop `iterations` times in one
    /// invocation on a driver that cuts loops short. `what` names the kernel and the size that
    /// sets its loops (e.g. "rbm_grad (one pass per batch row)"), which the message asks the
    /// user to reduce.
    pub fn check_loop(&self, what: &str, iterations: u64) -> Result<()> {
        if !self.loop_fits(iterations) {
            bail!(
                "{what} needs {iterations} loop iterations per invocation, past llvmpipe's limit of 65535 (checked at {}); reduce that size, or run on a GPU",
                self.loop_budget()
            );
        }
        Ok(())
    }

    /// Whether `iterations` loop passes fit one invocation ([`GpuContext::check_loop`]).
    pub fn loop_fits(&self, iterations: u64) -> bool {
        self.loop_limit().is_none_or(|limit| iterations <= limit)
    }

    /// Waits for all submitted work.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .context("waiting for the GPU")?;
        if let Some(e) = self.errors.lock().ok().and_then(|v| v.first().cloned()) {
            bail!("the GPU reported an error: {e}");
        }
        Ok(())
    }
}

/// Bytes in binary units, for messages.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    /// The library reads no environment variable (issue 17, item 5): every source file
    /// outside the command line (`src/main.rs`, `src/cli/`) is scanned for the calls that read
    /// one, comments skipped. The patterns are assembled so that this test does not match
    /// itself.
    #[test]
    fn the_library_reads_no_environment_variable() {
        let patterns: Vec<String> = [
            ("env::", "var"),
            ("var", "_os("),
            ("_from", "_env"),
            ("from", "_env("),
            ("with", "_env("),
        ]
        .iter()
        .map(|(a, b)| format!("{a}{b}"))
        .collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![root.clone()];
        let (mut files, mut found) = (0, Vec::new());
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                // The command line reads the environment; `gpu/generate.rs` is compiled only
                // for tests (`#[cfg(test)] mod generate`), where STEIN_BLESS is the test's own
                // switch.
                if rel == "main.rs"
                    || rel == "cli"
                    || rel.starts_with("cli/")
                    || rel == "gpu/generate.rs"
                {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if rel.ends_with(".rs") {
                    files += 1;
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (i, line) in text.lines().enumerate() {
                        let code = line.trim_start();
                        // A file's unit tests (its trailing `mod tests`) are not the library.
                        if code.starts_with("#[cfg(test)]") {
                            break;
                        }
                        if code.starts_with("//") {
                            continue;
                        }
                        if let Some(p) = patterns.iter().find(|p| code.contains(p.as_str())) {
                            found.push(format!("src/{rel}:{}: `{p}`: {}", i + 1, code));
                        }
                    }
                }
            }
        }
        assert!(
            files >= 20,
            "scanned only {files} files under {}",
            root.display()
        );
        assert!(
            found.is_empty(),
            "the library reads the environment; take it as an option (GpuOptions) and read \
             the variable in the command line instead:\n{}",
            found.join("\n")
        );
    }
}
