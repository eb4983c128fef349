//! The software binary64 of `shaders/common/softf64.wgsl` and `median_finish` against the
//! host's f64, bit for bit (the tolerance is zero): each operation on its awkward inputs
//! (subnormals, ties, overflow, exponent gaps past the significand), then the median
//! bandwidth (h, 1/h) on many order statistics and particle counts at once through test
//! harnesses built from the shipped WGSL, then the `median_finish` kernel itself.

use anyhow::{ensure, Result};
use stein::bandwidth::from_median;
use stein::gpu::params::FinishParams;
use stein::gpu::pipeline::{Binding, Kernel};
use stein::gpu::shader::MEDIAN_FINISH;
use stein::gpu::{GpuContext, GpuVec, Recorder};
use stein::io::target::SplitMix64;

use super::common::gpu;

/// Harness threads per workgroup.
const WG: u32 = 64;

/// Test harness over the operations: `cases` holds five words a case (op, a hi, a lo, b hi,
/// b lo), `res` two (the result's hi, lo; an f32 result in lo). Op 0 `f64_from_f32` (of a lo),
/// 1 `f64_add`, 2 `f64_halve`, 3 `f64_div`, 4 `f64_to_f32`.
const OPS_HARNESS: &str = r"
override WG: u32 = 64u;
@group(0) @binding(0) var<storage, read> cases: array<u32>;
@group(0) @binding(1) var<storage, read_write> res: array<u32>;

@compute @workgroup_size(WG)
fn softf64_cases(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= arrayLength(&cases) / 5u {
        return;
    }
    let op = cases[5u * c];
    let a = vec2<u32>(cases[5u * c + 1u], cases[5u * c + 2u]);
    let b = vec2<u32>(cases[5u * c + 3u], cases[5u * c + 4u]);
    var r = vec2<u32>(0xdeadbeefu, 0xdeadbeefu);
    switch op {
        case 0u: { r = f64_from_f32(a.y); }
        case 1u: { r = f64_add(a, b); }
        case 2u: { r = f64_halve(a); }
        case 3u: { r = f64_div(a, b); }
        case 4u: { r = vec2<u32>(0u, f64_to_f32(a)); }
        default: {}
    }
    res[2u * c] = r.x;
    res[2u * c + 1u] = r.y;
}
";

/// Test harness over `median_finish_bits`, with `median_finish.wgsl`'s own bindings: `sel`
/// holds five words a case (v0 bits, v1 bits, n, ln(n + 1) hi, lo), `out` (h, 1/h) a case.
const FINISH_HARNESS: &str = r"
@compute @workgroup_size(WG)
fn median_finish_cases(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= arrayLength(&sel) / 5u {
        return;
    }
    let s = 5u * c;
    var r = median_finish_bits(sel[s + 2u], sel[s], sel[s + 1u],
                               vec2<u32>(sel[s + 3u], sel[s + 4u]));
    out[2u * c] = bitcast<f32>(r.x);
    out[2u * c + 1u] = bitcast<f32>(r.y);
}
";

/// `source` checked by naga first (a harness error reads better from naga than from wgpu).
fn validated(source: &str) -> Result<()> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| anyhow::anyhow!(e.emit_to_string(source)))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .map_err(|e| anyhow::anyhow!(e.emit_to_string(source)))?;
    Ok(())
}

/// The operations' harness run on `cases` (five words each): two words a case.
fn run_ops(ctx: &GpuContext, cases: &[u32]) -> Result<Vec<u32>> {
    // The part as median_finish assembles it.
    let (_, part) = MEDIAN_FINISH
        .parts
        .iter()
        .find(|(path, _)| *path == "common/softf64.wgsl")
        .expect("median_finish uses softf64");
    let source = format!("{part}\n{OPS_HARNESS}");
    validated(&source)?;
    const BINDINGS: &[Binding] = &[Binding::ReadOnly, Binding::ReadWrite];
    let kernel = Kernel::from_source(ctx, "softf64_cases", &source, BINDINGS, ("WG", WG))?;
    let n = cases.len() / 5;
    let input = GpuVec::from_slice(ctx, "cases", cases)?;
    // Pre-filled with a pattern no operation returns for these inputs.
    let res = GpuVec::from_slice(ctx, "res", &vec![0xffff_ffffu32; 2 * n])?;
    let mut enc = Recorder::new(ctx);
    kernel.record_resources(
        ctx,
        &mut enc,
        &[
            input.buffer.as_entire_binding(),
            res.buffer.as_entire_binding(),
        ],
        ((n as u32).div_ceil(WG), 1, 1),
    )?;
    enc.submit(ctx);
    res.read(ctx)
}

/// The median harness run on `cases` (five words each): (h, 1/h) a case.
fn run_finish(ctx: &GpuContext, cases: &[u32]) -> Result<Vec<f32>> {
    let source = MEDIAN_FINISH.source() + FINISH_HARNESS;
    validated(&source)?;
    let kernel = Kernel::from_source(
        ctx,
        "median_finish_cases",
        &source,
        MEDIAN_FINISH.bindings,
        ("WG", WG),
    )?;
    let n = cases.len() / 5;
    let sel = GpuVec::from_slice(ctx, "sel", cases)?;
    let out = GpuVec::<f32>::nan_filled(ctx, "out", 2 * n)?;
    let mut enc = Recorder::new(ctx);
    let params = enc.uniform(ctx, &FinishParams::default());
    kernel.record_with(
        ctx,
        &mut enc,
        &params,
        &[&sel.buffer, &out.buffer],
        ((n as u32).div_ceil(WG), 1, 1),
    )?;
    enc.submit(ctx);
    out.read(ctx)
}

/// The host's median bandwidth as φ receives it: med as `median::MedianSelector` forms it
/// (the mean of the one or two order statistics in f64), h = `from_median`, then `h as f32`
/// and `(1.0 / h) as f32` (`kernels::pair_params`), as bits.
fn host_bits(n: usize, v0: u32, v1: u32) -> (u32, u32) {
    let values: Vec<f64> = match n % 2 {
        0 => vec![f32::from_bits(v0).into(), f32::from_bits(v1).into()],
        _ => vec![f32::from_bits(v0).into()],
    };
    let med = values.iter().sum::<f64>() / values.len() as f64;
    let h = from_median(med, n);
    ((h as f32).to_bits(), ((1.0 / h) as f32).to_bits())
}

/// A uniformly drawn non-negative finite binary32 (bits uniform: log-uniform over the range,
/// subnormals and the largest binade included).
fn any_f32(rng: &mut SplitMix64) -> u32 {
    (rng.next_u64() % 0x7f80_0000) as u32
}

/// A binary32 with biased exponent `e` (0: subnormal) and the significand from `random`.
fn f32_at(e: u32, random: u64) -> u32 {
    (e << 23) | (random as u32 & 0x7f_ffff)
}

/// A binary64 with biased exponent `e` (0: subnormal) and the significand from `random`.
fn f64_at(e: u64, random: u64) -> u64 {
    (e << 52) | (random & ((1 << 52) - 1))
}

/// A uniformly drawn positive finite binary64.
fn any_f64(rng: &mut SplitMix64) -> u64 {
    1 + rng.next_u64() % 0x7fef_ffff_ffff_ffff
}

/// A case for the operations' harness.
fn op_case(op: u32, a: u64, b: u64) -> [u32; 5] {
    [op, (a >> 32) as u32, a as u32, (b >> 32) as u32, b as u32]
}

/// The operations' cases: per operation, its classes of input (a few thousand each).
fn op_cases(rng: &mut SplitMix64) -> Vec<[u32; 5]> {
    let mut v = Vec::new();
    // from_f32: every class, both signs.
    for b in [
        0u32,
        0x8000_0000,
        1,
        0x7f_ffff,
        0x80_0000,
        0x7f7f_ffff,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0x7f80_0001,
        0xffff_ffff,
        0x8000_0001,
    ] {
        v.push(op_case(0, u64::from(b), 0));
    }
    for i in 0..4000u32 {
        let b = match i % 4 {
            0 => rng.next_u64() as u32,
            1 => rng.next_u64() as u32 & 0x807f_ffff, // subnormals
            _ => any_f32(rng),
        };
        v.push(op_case(0, u64::from(b), 0));
    }
    // add: exponent gaps from 0 past the significand, subnormals, overflow, exact ties.
    let max_exp = 0x7fe_u64;
    for i in 0..4000u64 {
        let (a, b) = match i % 6 {
            0 => (any_f64(rng), any_f64(rng)),
            1 => {
                let ea = 1 + rng.next_u64() % max_exp;
                let eb = ea.saturating_sub(rng.next_u64() % 70);
                (f64_at(ea, rng.next_u64()), f64_at(eb, rng.next_u64()))
            }
            2 => (
                f64_at(rng.next_u64() % 3, rng.next_u64()),
                f64_at(rng.next_u64() % 3, rng.next_u64()),
            ),
            3 => (
                f64_at(max_exp, rng.next_u64()),
                f64_at(max_exp - rng.next_u64() % 3, rng.next_u64()),
            ),
            4 => {
                // b is half an ulp of a (or just off it): ties to even either way.
                let ea = 54 + rng.next_u64() % (max_exp - 54);
                let a = f64_at(ea, rng.next_u64());
                let b = ((ea - 53) << 52) | (rng.next_u64() % 2);
                (a, b)
            }
            _ => (0, any_f64(rng)),
        };
        let (a, b) = if i % 2 == 0 { (a, b) } else { (b, a) };
        v.push(op_case(1, a, b));
    }
    // halve: every exponent field, 0, 1 and 2 (subnormal results) most.
    for i in 0..3000u64 {
        let a = match i % 3 {
            0 => any_f64(rng),
            _ => f64_at(rng.next_u64() % 3, rng.next_u64()),
        };
        v.push(op_case(2, a, 0));
    }
    v.push(op_case(2, 0, 0));
    // div: anything (overflow, underflow), close exponents, subnormal quotients and their
    // ties, exact quotients, subnormal operands.
    for i in 0..5000u64 {
        let (a, b) = match i % 6 {
            0 => (any_f64(rng), any_f64(rng)),
            1 => {
                let ea = 100 + rng.next_u64() % 1800;
                let eb = ea + 4 - rng.next_u64() % 9;
                (f64_at(ea, rng.next_u64()), f64_at(eb, rng.next_u64()))
            }
            2 => (
                f64_at(rng.next_u64() % 60, rng.next_u64()),
                f64_at(1023 + rng.next_u64() % 60, rng.next_u64()),
            ),
            3 => (
                f64_at(0, rng.next_u64()) | 1,
                (1023 + 1 + rng.next_u64() % 3) << 52, // 2, 4 or 8
            ),
            4 => {
                let q = 1 + rng.next_u64() % 1000;
                let b = 1 + rng.next_u64() % 1000;
                (((q * b) as f64).to_bits(), (b as f64).to_bits())
            }
            _ => (
                f64_at(0, rng.next_u64()),
                f64_at(rng.next_u64() % 2046, rng.next_u64()),
            ),
        };
        if a & !(1 << 63) != 0 && b != 0 {
            v.push(op_case(3, a, b));
        }
    }
    v.push(op_case(3, f64::MAX.to_bits(), f64::MIN_POSITIVE.to_bits()));
    v.push(op_case(3, 1, f64::MAX.to_bits()));
    // to_f32: the range around binary32's, either sign, exact ties (the midpoint of two
    // neighbours, normal or subnormal) and the binary64s next to them; then the tie between
    // f32::MAX and infinity (rounds to infinity), zeros, infinities, NaN, underflow.
    for i in 0..5000u64 {
        let a = match i % 4 {
            0 => f64_at(1023 - 160 + rng.next_u64() % 300, rng.next_u64()),
            1 => any_f64(rng) | (rng.next_u64() & (1 << 63)),
            _ => {
                let lo = rng.next_u64() as u32 % 0x7f7f_ffff;
                let lo = if i % 8 < 4 { lo } else { lo % 0x80_0000 };
                let mid = (f64::from(f32::from_bits(lo)) + f64::from(f32::from_bits(lo + 1))) / 2.0;
                mid.to_bits()
                    .wrapping_add(rng.next_u64() % 3)
                    .wrapping_sub(1)
            }
        };
        v.push(op_case(4, a, 0));
    }
    let max_mid = f64::from(f32::MAX) + 2f64.powi(103);
    for a in [
        max_mid.to_bits(),
        max_mid.to_bits() - 1,
        0,
        1 << 63,
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        f64::NAN.to_bits(),
        2f64.powi(-150).to_bits(),
        (2f64.powi(-150) * 3.0).to_bits(),
        2f64.powi(-151).to_bits(),
        1,
    ] {
        v.push(op_case(4, a, 0));
    }
    v
}

/// The host's result of an operations' case, as the harness writes it.
fn op_host(c: &[u32; 5]) -> (u32, u32) {
    let a = f64::from_bits((u64::from(c[1]) << 32) | u64::from(c[2]));
    let b = f64::from_bits((u64::from(c[3]) << 32) | u64::from(c[4]));
    let r = match c[0] {
        0 => f64::from(f32::from_bits(c[2])),
        1 => a + b,
        2 => a / 2.0,
        3 => a / b,
        _ => return (0, (a as f32).to_bits()),
    };
    ((r.to_bits() >> 32) as u32, r.to_bits() as u32)
}

/// Every softf64 operation against the host's f64 on its awkward inputs: the same bits
/// (NaN results: a NaN), zero tolerance.
#[test]
fn softf64_operations_round_as_the_host_does() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let mut rng = SplitMix64::new(64);
    let cases = op_cases(&mut rng);
    let got = run_ops(ctx, cases.concat().as_slice())?;
    let mut wrong = Vec::new();
    let mut wrong_per_op = [0usize; 5];
    for (i, c) in cases.iter().enumerate() {
        let want = op_host(c);
        let have = (got[2 * i], got[2 * i + 1]);
        let nan = |(hi, lo): (u32, u32)| match c[0] {
            4 => f32::from_bits(lo).is_nan(),
            _ => f64::from_bits((u64::from(hi) << 32) | u64::from(lo)).is_nan(),
        };
        if have != want && !(nan(want) && nan(have)) {
            wrong.push(format!(
                "op {} case {c:08x?}: device {have:08x?}, host {want:08x?}",
                c[0]
            ));
            wrong_per_op[c[0] as usize] += 1;
        }
    }
    ensure!(
        wrong.is_empty(),
        "{} of {} cases differ (per op: {wrong_per_op:?}):\n{}",
        wrong.len(),
        cases.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
    Ok(())
}

/// Particle counts of the median cases: 1 to 7, WG ± 1, past 4096, the powers of two of
/// large runs, 2^24; random ones besides.
const FINISH_NS: &[usize] = &[1, 2, 3, 4, 7, 64, 65, 4099, 16384, 65536, 1 << 20, 1 << 24];

/// The order statistics (v0 <= v1) of the median cases, class `k` of seven.
fn order_statistics(rng: &mut SplitMix64, k: usize) -> (u32, u32) {
    let (a, b) = match k {
        // Anywhere in the range.
        0 => (any_f32(rng), any_f32(rng)),
        // Ties.
        1 => {
            let a = any_f32(rng);
            (a, a)
        }
        // v0 = 0 (and both, now and then: h = 1).
        2 => (
            0,
            if rng.next_u64().is_multiple_of(8) {
                0
            } else {
                any_f32(rng)
            },
        ),
        // v0 << v1: an exponent gap past 29, where the f64 sum rounds.
        3 => {
            let e1 = 31 + rng.next_u64() as u32 % 224;
            let e0 = e1.saturating_sub(30 + rng.next_u64() as u32 % 40);
            (f32_at(e0, rng.next_u64()), f32_at(e1, rng.next_u64()))
        }
        // Subnormals, with each other or the smallest normals.
        4 => {
            let e1 = rng.next_u64() as u32 % 3;
            (f32_at(0, rng.next_u64()), f32_at(e1, rng.next_u64()))
        }
        // Near f32::MAX: the sum overflows f32, not f64.
        5 => {
            let e1 = 253 + rng.next_u64() as u32 % 2;
            (f32_at(254, rng.next_u64()), f32_at(e1, rng.next_u64()))
        }
        // Close exponents (the f64 sum exact).
        _ => {
            let e1 = 1 + rng.next_u64() as u32 % 254;
            let e0 = e1.saturating_sub(rng.next_u64() as u32 % 30);
            (f32_at(e0, rng.next_u64()), f32_at(e1, rng.next_u64()))
        }
    };
    (a.min(b), a.max(b))
}

/// The median bandwidth (h, 1/h) of `median_finish_bits` against the host's, bit for bit,
/// on 24 000 order-statistic pairs of seven classes (anywhere, ties, v0 = 0, exponent gaps
/// past 29, subnormals, near f32::MAX, close exponents) and the particle counts of
/// [`FINISH_NS`] and random ones (odd and even: one or two order statistics), h and 1/h
/// overflowing and underflowing f32 at the ends. One dispatch; zero tolerance.
#[test]
fn median_finish_matches_the_host_bandwidth_bit_for_bit() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let mut rng = SplitMix64::new(21);
    let mut cases = Vec::new();
    for i in 0..24_000usize {
        let n = match i % 3 {
            2 => 1 + (rng.next_u64() % (1 << 31)) as usize,
            _ => FINISH_NS[(i / 3) % FINISH_NS.len()],
        };
        let (v0, v1) = order_statistics(&mut rng, (i / 2) % 7);
        let ln = ((n as f64) + 1.0).ln().to_bits();
        cases.push([v0, v1, n as u32, (ln >> 32) as u32, ln as u32]);
    }
    let got = run_finish(ctx, cases.concat().as_slice())?;
    let mut wrong = Vec::new();
    let (mut inf_h, mut inf_inv, mut sub_h) = (0, 0, 0);
    for (i, c) in cases.iter().enumerate() {
        let want = host_bits(c[2] as usize, c[0], c[1]);
        let have = (got[2 * i].to_bits(), got[2 * i + 1].to_bits());
        if have != want {
            wrong.push(format!(
                "n={} v0={:e} v1={:e}: device (h, 1/h) = ({:e}, {:e}), host ({:e}, {:e})",
                c[2],
                f32::from_bits(c[0]),
                f32::from_bits(c[1]),
                got[2 * i],
                got[2 * i + 1],
                f32::from_bits(want.0),
                f32::from_bits(want.1),
            ));
        }
        let h = f32::from_bits(want.0);
        inf_h += usize::from(h.is_infinite());
        inf_inv += usize::from(f32::from_bits(want.1).is_infinite());
        sub_h += usize::from(h.is_subnormal() || h == 0.0);
    }
    ensure!(
        wrong.is_empty(),
        "{} of {} cases differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
    // The table reaches both ends of f32 (else it would not test them).
    ensure!(
        inf_h > 0 && inf_inv > 0 && sub_h > 0,
        "the cases miss an end: h = inf {inf_h}, 1/h = inf {inf_inv}, h subnormal or 0 {sub_h}"
    );
    Ok(())
}

/// The `median_finish` kernel through [`stein::kernels::Kernels::record_median_finish`]: one
/// order statistic for odd n (a one-element `sel`), two for even n, med = 0, and NaN for both
/// outputs where an order statistic is NaN or infinite (outputs pre-filled with NaN where a
/// number is expected, with 0 where NaN is).
#[test]
fn median_finish_kernel_reads_one_value_for_odd_n_and_flags_nan() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let run = |n: usize, sel: &[f32], fill: f32| -> Result<Vec<f32>> {
        let bits: Vec<u32> = sel.iter().map(|v| v.to_bits()).collect();
        let sel = GpuVec::from_slice(ctx, "sel", &bits)?;
        let out = GpuVec::from_slice(ctx, "out", &[fill, fill])?;
        let mut enc = Recorder::new(ctx);
        k.record_median_finish(ctx, &mut enc, n, &sel, &out)?;
        enc.submit(ctx);
        out.read(ctx)
    };
    for (n, sel) in [
        (1, vec![0.0]),
        (3, vec![2.5]),
        (7, vec![1e-40]),
        (4099, vec![3.0e38]),
        (2, vec![0.0, 0.0]),
        (2, vec![0.0, 1.0]),
        (64, vec![1.5, 2.5]),
        (65536, vec![1e-45, 3.4e38]),
    ] {
        let got = run(n, &sel, f32::NAN)?;
        let v1 = sel.get(1).copied().unwrap_or(f32::NAN);
        let want = host_bits(n, sel[0].to_bits(), v1.to_bits());
        ensure!(
            (got[0].to_bits(), got[1].to_bits()) == want,
            "n={n} sel={sel:?}: device {got:?}, host ({}, {})",
            f32::from_bits(want.0),
            f32::from_bits(want.1)
        );
    }
    ensure!(
        run(1, &[0.0], f32::NAN)? == [1.0, 1.0],
        "med = 0 gives h = 1"
    );
    for (n, sel) in [
        (3, vec![f32::NAN]),
        (3, vec![f32::INFINITY]),
        (2, vec![1.0, f32::NAN]),
        (2, vec![1.0, f32::INFINITY]),
        (2, vec![f32::NAN, f32::NAN]),
    ] {
        let got = run(n, &sel, 0.0)?;
        ensure!(
            got.iter().all(|v| v.is_nan()),
            "n={n} sel={sel:?}: (h, 1/h) = {got:?}, want NaN for both"
        );
    }
    Ok(())
}
