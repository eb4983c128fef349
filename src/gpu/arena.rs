//! Uniforms that cannot alias: a [`Recorder`] is a command encoder with a uniform arena, in
//! which every recorded dispatch gets its own aligned slot, uploaded once before the submit.
//!
//! `queue.write_buffer` lands before the *whole* next submit, so two writes of one uniform
//! buffer recorded into one encoder alias (the last wins for every dispatch). Here a value is
//! never written twice into one slot: [`Recorder::uniform`] appends it to the arena's host
//! copy and returns a fresh [`UniformSlot`], bound as a buffer range
//! (`min_uniform_buffer_offset_alignment` apart, as wgpu's `shadow` example binds its
//! per-entity uniforms); [`Recorder::finish`] uploads the arena with one `write_buffer` per
//! block, ordered before the encoder's commands. A copy recorded into the encoder (the device
//! bandwidth of `record_svgd_phi_with`, at [`UniformSlot::offset`] plus the field's
//! `std::mem::offset_of!`) lands after that upload and before the dispatches that follow it.

use std::ops::{Deref, DerefMut};

use super::GpuContext;

/// Bytes of one arena block: 64 slots at the common 256-byte alignment. A value never spans
/// two blocks; a new block starts where the current one is full.
const BLOCK_BYTES: u64 = 16 * 1024;

/// Most blocks the device's pool keeps (1 MiB).
const POOL_BLOCKS: usize = 64;

/// One uniform value's place in a [`Recorder`]'s arena.
#[derive(Clone, Debug)]
pub struct UniformSlot {
    buffer: wgpu::Buffer,
    offset: u64,
    size: u64,
}

impl UniformSlot {
    /// The slot as a uniform binding (its range of the arena's buffer).
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.size),
        })
    }

    /// The arena buffer holding the slot.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Byte offset of the slot in [`UniformSlot::buffer`]: a field `f` of the uniform struct
    /// `T` sits at `offset() + std::mem::offset_of!(T, f)`.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

struct Block {
    buffer: wgpu::Buffer,
    bytes: Vec<u8>,
}

/// A command encoder and the uniforms its dispatches read. Dispatches go into one compute
/// pass, open until the encoder itself is needed: wgpu keeps each dispatch its own usage
/// scope and places the barriers between them a pass would have, while a pass begun and ended
/// for every dispatch cost llvmpipe a few tens of microseconds a step more (0.03–0.09 ms at
/// n = 128–256 on the banana target). It derefs to the encoder for copies, ending the open
/// pass first.
pub struct Recorder {
    enc: wgpu::CommandEncoder,
    /// The compute pass the dispatches go into, open until a copy or the finish needs the
    /// encoder.
    pass: Option<wgpu::ComputePass<'static>>,
    blocks: Vec<Block>,
    align: u64,
    slots: usize,
}

impl Recorder {
    /// An empty encoder and arena on `ctx`'s device.
    pub fn new(ctx: &GpuContext) -> Self {
        Self {
            enc: ctx.device.create_command_encoder(&Default::default()),
            pass: None,
            blocks: Vec::new(),
            // A slot is bound as a uniform or, on CPU adapters, as a read-only storage buffer
            // (`GpuContext::params_in_storage`).
            align: u64::from(match ctx.params_in_storage() {
                true => ctx.limits.min_storage_buffer_offset_alignment,
                false => ctx.limits.min_uniform_buffer_offset_alignment,
            })
            .max(16),
            slots: 0,
        }
    }

    /// A fresh slot holding `value`, for the dispatches recorded after this call to bind.
    pub fn uniform<T: bytemuck::Pod>(&mut self, ctx: &GpuContext, value: &T) -> UniformSlot {
        let data = bytemuck::bytes_of(value);
        let size = data.len() as u64;
        let stride = size.next_multiple_of(self.align);
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.bytes.len() as u64 + stride <= b.buffer.size());
        if !fits {
            // A block a submitted recorder gave back, else a new one (creating a buffer costs
            // about a millisecond on llvmpipe: per recorder, that was most of a small step).
            let pooled = match stride <= BLOCK_BYTES {
                true => ctx.arena_pool.lock().ok().and_then(|mut p| p.pop()),
                false => None,
            };
            let usage = match ctx.params_in_storage() {
                true => wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                false => wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            };
            let buffer = pooled.unwrap_or_else(|| {
                ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("uniform arena"),
                    size: BLOCK_BYTES.max(stride),
                    usage,
                    mapped_at_creation: false,
                })
            });
            self.blocks.push(Block {
                buffer,
                bytes: Vec::new(),
            });
        }
        let block = self.blocks.last_mut().expect("a block was just made");
        let offset = block.bytes.len() as u64;
        block.bytes.extend_from_slice(data);
        block.bytes.resize((offset + stride) as usize, 0);
        self.slots += 1;
        UniformSlot {
            buffer: block.buffer.clone(),
            offset,
            size,
        }
    }

    /// The open compute pass, begun where none is.
    pub(crate) fn pass(&mut self) -> &mut wgpu::ComputePass<'static> {
        let enc = &mut self.enc;
        self.pass.get_or_insert_with(|| {
            enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("stein"),
                timestamp_writes: None,
            })
            .forget_lifetime()
        })
    }

    /// Ends the open compute pass, if any (the encoder takes copies and new passes again).
    pub(crate) fn end_pass(&mut self) {
        self.pass = None;
    }

    /// Slots handed out so far.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Uploads the arena (queued, so it lands before this command buffer runs) and finishes
    /// the encoder. The caller submits through [`GpuContext::submit`] (counted); the blocks are
    /// dropped (see [`Recorder::submit`]).
    pub fn finish(mut self, ctx: &GpuContext) -> wgpu::CommandBuffer {
        self.end_pass();
        self.upload(ctx);
        self.enc.finish()
    }

    fn upload(&self, ctx: &GpuContext) {
        for b in &self.blocks {
            if !b.bytes.is_empty() {
                ctx.queue.write_buffer(&b.buffer, 0, &b.bytes);
            }
        }
    }

    /// [`Recorder::finish`] and submit. The arena's blocks go back to the device's pool for
    /// later recorders: a later recorder's `write_buffer` is queued after this submission, so
    /// it cannot reach this submission's dispatches.
    pub fn submit(mut self, ctx: &GpuContext) -> wgpu::SubmissionIndex {
        self.end_pass();
        self.upload(ctx);
        let index = ctx.submit([self.enc.finish()]);
        if let Ok(mut pool) = ctx.arena_pool.lock() {
            for b in self.blocks {
                if b.buffer.size() == BLOCK_BYTES && pool.len() < POOL_BLOCKS {
                    pool.push(b.buffer);
                }
            }
        }
        index
    }
}

impl Deref for Recorder {
    type Target = wgpu::CommandEncoder;
    fn deref(&self) -> &wgpu::CommandEncoder {
        &self.enc
    }
}

impl DerefMut for Recorder {
    fn deref_mut(&mut self) -> &mut wgpu::CommandEncoder {
        self.end_pass();
        &mut self.enc
    }
}
