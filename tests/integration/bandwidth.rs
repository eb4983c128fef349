//! The bandwidth selector: every placement gives the median bandwidth of algorithms.md §1.
//! A host selection gives the f64 sort's h to f32 rounding of the distances; the in-encoder
//! selection leaves (h, 1/h) on the device with no readback: one workgroup's `batch_median`
//! (h to f32 rounding), or past it `DeviceMedian` (the host's 1/h bit for bit).

use anyhow::{ensure, Result};
use stein::bandwidth::{Bandwidth, BandwidthSelector, Placement};
use stein::gpu::{GpuVec, Recorder};
use stein::median::BatchMedian;

use super::common::{gpu, normals};

/// Relative agreement of an h from f32 distances with the f64 sort's (the median of f32
/// squared distances, each within a few ulp of its f64 value, then h in f32 on the device).
const H_REL: f64 = 1e-6;

#[test]
fn every_placement_selects_the_median_bandwidth() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    // A batch that one selection workgroup serves, and one past it on this device (or past
    // BatchMedian::MAX_N), which DeviceMedian serves.
    let past = (1..=BatchMedian::MAX_N + 1)
        .rev()
        .find(|&n| !BatchMedian::fits(ctx, n))
        .unwrap_or(BatchMedian::MAX_N + 1);
    for (n, d) in [(1, 3), (2, 1), (100, 2), (257, 17), (past, 5)] {
        let (x32, x64) = normals(n, d, 1.0, (7 * n + d) as u64);
        let want = stein::cpu::median::median_bandwidth(&x64, d);
        let x = GpuVec::from_slice(ctx, "x", &x32)?;
        let mut host = BandwidthSelector::new(ctx, k, (n, d), Placement::Host)?;
        let h_host = host
            .select(ctx, k, None, &x, Bandwidth::Median)?
            .h
            .expect("a host selection gives h");
        ensure!(
            (h_host - want).abs() <= H_REL * want,
            "n = {n}, d = {d}: passes h {h_host}, f64 sort {want}"
        );
        let mut enc = BandwidthSelector::new(ctx, k, (n, d), Placement::Encoder { host_h: false })?;
        let mut rec = Recorder::new(ctx);
        let sel = enc.select(ctx, k, Some(&mut rec), &x, Bandwidth::Median)?;
        rec.submit(ctx);
        // Every size keeps h on the device (one workgroup's selection, or DeviceMedian past
        // it, which gives the host selection's 1/h bit for bit).
        ensure!(
            sel.h.is_none(),
            "n = {n}: an in-encoder selection gave h on the host"
        );
        let h = enc.device_h().expect("in-encoder selection").read(ctx)?;
        ensure!(
            (f64::from(h[1]) * f64::from(h[0]) - 1.0).abs() < 1e-6,
            "n = {n}: the device holds h = {}, 1/h = {}",
            h[0],
            h[1]
        );
        if !BatchMedian::fits(ctx, n) {
            ensure!(
                h[1].to_bits() == ((1.0 / h_host) as f32).to_bits(),
                "n = {n}: past one workgroup the device's 1/h {} is not the host's {h_host}",
                h[1]
            );
        }
        let h_dev = f64::from(h[0]);
        ensure!(
            (h_dev - want).abs() <= H_REL * want,
            "n = {n}, d = {d}: in-encoder h {h_dev}, f64 sort {want}"
        );
        // A fixed h passes through; a non-positive one is refused with the rule's message.
        let fixed = enc.select(
            ctx,
            k,
            Some(&mut Recorder::new(ctx)),
            &x,
            Bandwidth::Fixed(0.25),
        )?;
        ensure!(fixed.h == Some(0.25), "fixed h came back as {:?}", fixed.h);
        let bad = enc.select(
            ctx,
            k,
            Some(&mut Recorder::new(ctx)),
            &x,
            Bandwidth::Fixed(-1.0),
        );
        ensure!(
            bad.is_err_and(|e| e.to_string().contains("must be positive")),
            "a negative h was accepted"
        );
    }
    Ok(())
}
