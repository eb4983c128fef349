//! The GPU layer: one [`GpuContext`] per process, typed buffers, the shader registry and
//! pipeline creation. Kernel wrappers (`crate::kernels`) build on it and only *record*
//! commands; algorithms own the state and decide when to submit and read back.

pub mod arena;
pub mod buffer;
pub mod context;
pub mod params;
pub mod pipeline;
pub mod shader;
pub mod timer;

#[cfg(test)]
mod generate;

pub use arena::{Recorder, UniformSlot};
pub use buffer::GpuVec;
pub use context::{
    stein_instance_flags, AdapterChoice, GpuContext, GpuCounts, GpuOptions, PhiLayoutChoice,
};
pub use timer::PassTime;
