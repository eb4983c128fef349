//! Typed device buffers. A [`GpuVec`] knows its logical length and label, so readbacks copy
//! exactly what is meaningful and errors name the buffer.

use std::marker::PhantomData;

use anyhow::{ensure, Context, Result};
use wgpu::util::DeviceExt;

use super::GpuContext;

/// A storage buffer holding `len` elements of `T`.
pub struct GpuVec<T: bytemuck::Pod> {
    /// The wgpu buffer (at least 4 bytes, even when `len` is 0).
    pub buffer: wgpu::Buffer,
    /// Logical number of elements.
    pub len: usize,
    /// Label used in errors and debuggers.
    pub label: String,
    _t: PhantomData<T>,
}

// INDIRECT: the device median's stages write the workgroup counts of later passes.
const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::INDIRECT)
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl<T: bytemuck::Pod> GpuVec<T> {
    /// Uploads `data`.
    pub fn from_slice(ctx: &GpuContext, label: &str, data: &[T]) -> Result<Self> {
        let bytes = std::mem::size_of_val(data) as u64;
        ctx.check_binding(label, bytes)?;
        let buffer = if data.is_empty() {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 4,
                usage: USAGE,
                mapped_at_creation: false,
            })
        } else {
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(data),
                    usage: USAGE,
                })
        };
        Ok(Self {
            buffer,
            len: data.len(),
            label: label.to_string(),
            _t: PhantomData,
        })
    }

    /// A zero-filled buffer of `len` elements.
    pub fn zeros(ctx: &GpuContext, label: &str, len: usize) -> Result<Self> {
        let bytes = (len * std::mem::size_of::<T>()) as u64;
        ctx.check_binding(label, bytes)?;
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: USAGE,
            mapped_at_creation: false,
        });
        Ok(Self {
            buffer,
            len,
            label: label.to_string(),
            _t: PhantomData,
        })
    }

    /// Size in bytes of the logical contents.
    pub fn bytes(&self) -> u64 {
        (self.len * std::mem::size_of::<T>()) as u64
    }

    /// Overwrites the first `data.len()` elements (queued; ordered before later submits).
    pub fn write(&self, ctx: &GpuContext, data: &[T]) -> Result<()> {
        ensure!(
            data.len() <= self.len,
            "writing {} elements into `{}` of length {}",
            data.len(),
            self.label,
            self.len
        );
        if !data.is_empty() {
            ctx.queue
                .write_buffer(&self.buffer, 0, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    /// Copies the logical contents to the host; waits for all submitted work first.
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<T>> {
        self.read_prefix(ctx, self.len)
    }

    /// Copies the first `len` elements to the host.
    pub fn read_prefix(&self, ctx: &GpuContext, len: usize) -> Result<Vec<T>> {
        ensure!(
            len <= self.len,
            "reading {len} elements of `{}` ({})",
            self.label,
            self.len
        );
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = (len * std::mem::size_of::<T>()) as u64;
        let size = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, size.min(self.buffer.size()));
        ctx.count_readback();
        ctx.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        ctx.wait()?;
        rx.recv()
            .context("map_async callback never ran")?
            .with_context(|| format!("mapping the readback of `{}`", self.label))?;
        let out = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .context("reading the mapped range")?;
            bytemuck::cast_slice::<u8, T>(&view[..bytes as usize]).to_vec()
        };
        staging.unmap();
        Ok(out)
    }
}

impl GpuVec<f32> {
    /// A buffer of `len` NaNs: tests fill outputs this way so an element a kernel forgot to
    /// write cannot pass.
    pub fn nan_filled(ctx: &GpuContext, label: &str, len: usize) -> Result<Self> {
        Self::from_slice(ctx, label, &vec![f32::NAN; len])
    }
}
