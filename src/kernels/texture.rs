//! rgba32float storage textures: the particles four coordinates a texel ([`XTexture`]), the
//! shapes the kernels address, and their readback.

use anyhow::{ensure, Result};

use super::plan::{shuffle_padded, shuffle_record};
use crate::gpu::{GpuContext, GpuVec};

/// Texels per row of `svgd_phi_shuffle`'s record texture (its const TEX_W,
/// SHUFFLE_TEXTURE_WIDTH in src/gpu/generate.rs). WebGPU guarantees 8192.
pub const SHUFFLE_TEXTURE_WIDTH: usize = 4096;

/// (width, height) in texels of `x_texture_pack`'s texture for `n` particles in `d`
/// dimensions: ceil(d / 4) texels a particle, row by row, SHUFFLE_TEXTURE_WIDTH wide.
pub fn x_texture_size(n: usize, d: usize) -> (usize, usize) {
    texture_shape(n * d.div_ceil(4))
}

/// (width, height) of a texture that holds `texels` row by row, SHUFFLE_TEXTURE_WIDTH wide,
/// its height rounded up to a power of two: llvmpipe (Mesa 22.3) builds every kernel that
/// reads a texture once for power-of-two heights and once more for any other, and its disk
/// cache keeps only the first build, so a process whose heights fell in the other class paid
/// a second full build each time (φ's shuffle kernel at d = 100: about 40 s; the test suite
/// with an empty cache: 335 → 254–283 s). At most twice a texture's rows; the rows past
/// `texels` are never read, and the checks against the device's texture limit (a power of
/// two) take the rounded height.
pub(crate) fn texture_shape(texels: usize) -> (usize, usize) {
    (
        SHUFFLE_TEXTURE_WIDTH,
        texels
            .div_ceil(SHUFFLE_TEXTURE_WIDTH)
            .max(1)
            .next_power_of_two(),
    )
}

/// The particles as an rgba32float texture, four coordinates a texel (`x_texture_pack`),
/// which the median's sample and bracket passes read on CPU adapters
/// ([`Kernels::median_x_texture`](super::Kernels::median_x_texture)): there a storage-buffer load whose index differs between
/// lanes is a loop over the lanes, a texel load one gather. The KSD's kernels read such
/// textures too: of x and the score, or of `ksd_pack`'s records (n rows of
/// [`ksd_record_floats`](super::ksd_record_floats) values; [`KsdRecords`](super::KsdRecords)).
pub struct XTexture {
    pub(crate) texture: wgpu::Texture,
    pub(crate) view: wgpu::TextureView,
    pub(crate) n: usize,
    pub(crate) d: usize,
}

impl XTexture {
    /// A texture for `n` particles in `d` dimensions (checked against the device's
    /// max_texture_dimension_2d).
    pub fn new(ctx: &GpuContext, n: usize, d: usize) -> Result<Self> {
        Self::labelled(ctx, ("median", "x texture"), n, d)
    }

    /// The same, named `label` and, in the device-limit error, `what`.
    pub(crate) fn labelled(
        ctx: &GpuContext,
        (what, label): (&str, &str),
        n: usize,
        d: usize,
    ) -> Result<Self> {
        let (texture, view) = rgba32_texture(
            ctx,
            (what, label),
            (n, d),
            x_texture_size(n, d),
            wgpu::TextureUsages::COPY_SRC,
        )?;
        Ok(Self {
            texture,
            view,
            n,
            d,
        })
    }

    /// Bytes of device memory held.
    pub fn bytes(&self) -> u64 {
        texture_bytes(&self.texture)
    }

    /// Checks that the texture was made for `n` particles in `d` dimensions.
    pub(crate) fn holds(&self, what: &str, n: usize, d: usize) -> Result<()> {
        ensure!(
            (self.n, self.d) == (n, d),
            "{what}: the texture holds n = {}, d = {}, not n = {n}, d = {d}",
            self.n,
            self.d
        );
        Ok(())
    }

    /// Reads the texture back: n·ceil(d / 4) texels, 4 floats each, in texel order.
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        read_rgba32(ctx, &self.texture, 4 * self.n * self.d.div_ceil(4))
    }
}

/// The first `floats` floats of an rgba32float texture made with `COPY_SRC`, texel by texel
/// and row by row, as the kernels address it (submits and waits; for tests and readbacks).
pub fn read_rgba32(ctx: &GpuContext, texture: &wgpu::Texture, floats: usize) -> Result<Vec<f32>> {
    let (width, height) = (texture.width(), texture.height());
    let all = GpuVec::<f32>::zeros(ctx, "texture readback", 4 * (width * height) as usize)?;
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    enc.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &all.buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(16 * width),
                rows_per_image: Some(height),
            },
        },
        texture.size(),
    );
    ctx.submit([enc.finish()]);
    all.read_prefix(ctx, floats)
}

/// An rgba32float storage texture of `(width, height)` texels (and `usage` besides storage),
/// after checking the size against the device's max_texture_dimension_2d; `what` names the
/// caller and the texture, `(n, d)` the problem, for the error.
pub(crate) fn rgba32_texture(
    ctx: &GpuContext,
    (what, label): (&str, &str),
    (n, d): (usize, usize),
    (width, height): (usize, usize),
    usage: wgpu::TextureUsages,
) -> Result<(wgpu::Texture, wgpu::TextureView)> {
    let max = ctx.limits.max_texture_dimension_2d as usize;
    ensure!(
        width <= max && height <= max,
        "{what}: n = {n}, d = {d} needs a {width}x{height} texture, over this adapter's \
         max_texture_dimension_2d = {max}; use fewer particles"
    );
    let texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: width as u32,
            height: height as u32,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::STORAGE_BINDING | usage,
        view_formats: &[],
    });
    let view = texture.create_view(&Default::default());
    Ok((texture, view))
}

/// Bytes of an rgba32float texture.
pub(crate) fn texture_bytes(t: &wgpu::Texture) -> u64 {
    16 * u64::from(t.width()) * u64::from(t.height())
}

/// (width, height) in texels of `svgd_phi_shuffle`'s rgba32float record texture for `n`
/// particles in `d` dimensions and subgroup size `sg`: the column records row by row, the
/// last row's tail unwritten (zero). `svgd_phi_pack` writes them there (override TEXTURE), and
/// `svgd_phi_shuffle` reads them as a read-only storage texture: llvmpipe fetches texels with
/// a branch-free gather, where a storage-buffer vec4 costs a loop of 32 bounds-checked scalar
/// loads (see the generator).
pub fn shuffle_texture_size(n: usize, d: usize, sg: u32) -> (usize, usize) {
    texture_shape(shuffle_padded(n, sg) * shuffle_record(d))
}
