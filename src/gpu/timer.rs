//! Device time of each compute pass, from timestamp queries where the adapter has them
//! (`wgpu::Features::TIMESTAMP_QUERY`): what `stein bench --profile` reports per phase of a
//! step. While [`GpuContext::time_passes`] records, every pass a kernel records
//! ([`super::pipeline::Kernel`]) writes a timestamp at its start and end into one query set,
//! labelled with the phase [`GpuContext::set_phase`] named last and the kernel; the set is
//! resolved into the same encoder, submitted, and read back once.

use anyhow::{ensure, Result};
use serde::Serialize;

use super::{GpuContext, GpuVec, Recorder};

/// Passes timed in one recording at most (two queries each, wgpu's 4096 a set): later
/// passes run untimed, and [`GpuContext::time_passes`] fails saying so.
const MAX_PASSES: u32 = wgpu::QUERY_SET_MAX_QUERIES / 2;

/// One compute pass's device time.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PassTime {
    /// The phase it belongs to ([`GpuContext::set_phase`]).
    pub phase: String,
    /// The kernel that ran.
    pub kernel: &'static str,
    /// Seconds between its start and end timestamps.
    pub seconds: f64,
}

/// The timer while a recording is timed.
pub(crate) struct PassTimer {
    set: wgpu::QuerySet,
    phase: String,
    passes: Vec<(String, &'static str)>,
}

impl GpuContext {
    /// Whether this device writes timestamps in compute passes.
    pub fn has_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Names the phase the passes recorded from now on belong to (nothing unless
    /// [`GpuContext::time_passes`] is recording).
    pub fn set_phase(&self, phase: &str) {
        if let Ok(mut t) = self.timer.lock() {
            if let Some(t) = t.as_mut() {
                t.phase = phase.to_string();
            }
        }
    }

    /// The query set and first index for a pass of `kernel`, while a recording is timed.
    pub(crate) fn timestamp_slot(&self, kernel: &'static str) -> Option<(wgpu::QuerySet, u32)> {
        let mut t = self.timer.lock().ok()?;
        let t = t.as_mut()?;
        let i = t.passes.len() as u32;
        (i < MAX_PASSES).then(|| {
            t.passes.push((t.phase.clone(), kernel));
            (t.set.clone(), 2 * i)
        })
    }

    /// Records what `record` records into one encoder with every pass timed, submits it, and
    /// returns each pass's device time in recording order (one readback). Fails where the
    /// device has no timestamp queries ([`GpuContext::has_timestamps`]).
    pub fn time_passes(
        &self,
        record: impl FnOnce(&mut Recorder) -> Result<()>,
    ) -> Result<Vec<PassTime>> {
        ensure!(
            self.has_timestamps(),
            "this adapter has no timestamp queries in compute passes"
        );
        let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("pass timer"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * MAX_PASSES,
        });
        *self
            .timer
            .lock()
            .map_err(|_| anyhow::anyhow!("pass timer poisoned"))? = Some(PassTimer {
            set: set.clone(),
            phase: String::new(),
            passes: Vec::new(),
        });
        let mut rec = Recorder::new(self);
        let recorded = record(&mut rec);
        let timer = self
            .timer
            .lock()
            .map_err(|_| anyhow::anyhow!("pass timer poisoned"))?
            .take();
        recorded?;
        let passes = timer.map(|t| t.passes).unwrap_or_default();
        ensure!(
            (passes.len() as u32) < MAX_PASSES,
            "more than {MAX_PASSES} passes to time in one recording"
        );
        if passes.is_empty() {
            rec.submit(self);
            return Ok(Vec::new());
        }
        let queries = 2 * passes.len() as u32;
        let bytes = u64::from(queries) * u64::from(wgpu::QUERY_SIZE);
        let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pass timer resolve"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let ticks = GpuVec::<u32>::zeros(self, "pass timer ticks", 2 * queries as usize)?;
        rec.resolve_query_set(&set, 0..queries, &resolved, 0);
        rec.copy_buffer_to_buffer(&resolved, 0, &ticks.buffer, 0, bytes);
        rec.submit(self);
        let t = ticks.read(self)?;
        let tick = |q: usize| u64::from(t[2 * q]) | u64::from(t[2 * q + 1]) << 32;
        let period = f64::from(self.queue.get_timestamp_period()) * 1e-9;
        Ok(passes
            .into_iter()
            .enumerate()
            .map(|(i, (phase, kernel))| PassTime {
                phase,
                kernel,
                seconds: tick(2 * i + 1).saturating_sub(tick(2 * i)) as f64 * period,
            })
            .collect())
    }
}
