//! The generator of the unrolled pairwise kernels, and the source of truth for the eleven
//! generated files under `shaders/kernels/` ([`FILES`]): the SVGD direction
//! (`svgd_phi_{small,mid,wide,lane,shuffle,shuffle_64}`), the median's counting and listing
//! pass (`pair_bracket_{mid,wide,shuffle}`) and the KSD's row sums (`ksd_shuffle`,
//! `ksd_shuffle_diff`).
//!
//! The files are committed (the crate compiles them in with `include_str!`, see
//! [`crate::gpu::shader`]) and checked: the test `generated_shaders_match_the_generator`
//! regenerates every one and fails, naming the file and its first differing line, when a
//! committed file differs from what this module writes. After editing this module (or
//! `shaders/kernels/pair_bracket.wgsl`, which `pair_bracket_{mid,wide}` are spliced from),
//! rewrite them with
//!
//! ```text
//! STEIN_BLESS=1 cargo test --release --lib generated_shaders
//! ```
//!
//! and commit the rewritten files with the change (as naga blesses its snapshots). The module
//! is compiled for the tests only: nothing else needs it at run time.
//!
//! Why generated: llvmpipe (Mesa's software Vulkan, the GPU of our tests and of users without
//! one) keeps private arrays that loops index in per-invocation scratch memory and turns each
//! access into a gather or scatter, which made a looped kernel 20x slower than this form; GPU
//! compilers likewise keep such arrays out of registers. So the rows an invocation owns and the
//! dimensions up to DMAX are written out as separate variables; branches on the override D are
//! folded by every compiler. WGSL has no macros, hence this generator. Every generated file is
//! validated with naga like any other kernel (the tests of [`crate::gpu::shader`]).
//!
//! # Which variants, and the measurement behind each
//! Every variant below is one that the host's selection can pick on some device
//! (`src/kernels.rs`: `PhiVariant::for_dim`, the bracket kernel's `match (d, sg)`, the KSD's
//! `ksd_form`), so each stays: dropping one would change which kernel runs there. Each
//! generator function names the raw measurement (under `bench/`) that justifies its variant;
//! where a use has no raw file, it names the commit whose message holds the measurement.

/// This file, as the generated headers name it.
const SELF_PATH: &str = "src/gpu/generate.rs";

/// Row-tiled φ variants: (name, largest d, rows per invocation).
///
/// - `small` (d <= 4, on every layout): φ at d = 2 with it, llvmpipe n = 16384: 2.59e9
///   pairs/s (`bench/llvmpipe-2cores-2026-12-01.json`, its rows name the kernel), H100
///   n = 2^20: 1.97e12 (`bench/h100-2026-11-25-tiled.txt`); a looped φ ran 1.5e8 at d = 2 on
///   llvmpipe (README, Notes for lavapipe 2).
/// - `mid` (5 <= d <= 16): hardware GPUs from n = 2^18 (`GEMM_ROW_TILED_MIN_N`, d <= 8 on the
///   gemm layout; `LANE_MAX_N` on the lane layout): H200, n = 262144, d = 8: 3.81e11 against
///   `svgd_phi_gemm`'s 3.34e11 (`bench/h200-2026-11-30-run2.log`, lines 16 and 47;
///   `bench/h200-2026-11-30-run2-unchecked-tiled-d8.json`); H100, n = 262144, d = 16: 1.35e11
///   against `svgd_phi_lane`'s 4.7e10 (`bench/h100-2026-11-25-tiled.txt`, `…-lane.txt`). CPU
///   adapters without subgroups (the tiled layout), and with subgroups where the shuffle
///   kernel's record texture does not fit: llvmpipe, n = 16384, d = 16: 3.9e8
///   (`bench/llvmpipe-2cores-2026-11-25-tiled-n16384.json`).
/// - `wide` (17 <= d <= 64): the same CPU uses, llvmpipe n = 16384, d = 64: 3.5e7
///   (`bench/llvmpipe-2cores-2026-11-25-tiled-n16384.json`) where the column blocks (the
///   kernel past its range there) ran 2.4e6 at d = 65 (README, Benchmarks, Past d = 64). On
///   the lane layout from n = 2^18 it follows the d = 16 measurement above; no file measures
///   it against `svgd_phi_lane` at d > 16 and n >= 2^18.
const VARIANTS: [(&str, usize, usize); 3] = [("small", 4, 32), ("mid", 16, 12), ("wide", 64, 4)];
/// Unrolled median passes: (name, largest d). Both serve every device without the shuffle
/// layout (hardware GPUs, CPU adapters without subgroups) at 5 <= d <= 16 and 17 <= d <= 64.
/// llvmpipe, n = 16384, before `pair_bracket_shuffle`: the median at d = 64 took 2.25 s with
/// `pair_bracket_wide` (`bench/llvmpipe-2cores-2026-11-25.json`), where the looped
/// `pair_bracket` took 23.2 s at d = 100 (commit b3e53b7). On hardware GPUs no file measures
/// them against the looped `pair_bracket`.
const BRACKET_VARIANTS: [(&str, usize); 2] = [("mid", 16), ("wide", 64)];
/// Most rows per invocation of svgd_phi_shuffle (its override ROWS, a multiple of 4 up to this;
/// src/kernels.rs shuffle_rows picks it per d).
const SHUFFLE_ROWS: usize = 8;
/// Largest d of svgd_phi_shuffle (src/kernels.rs SHUFFLE_DMAX). Past d = 64 the first compile
/// on llvmpipe grows (2 cores: about 30 s at d = 100, 50 s at d = 128; Mesa caches it on disk
/// afterwards), but φ runs about 6x faster than svgd_phi_gemm there and 30x faster than the
/// column blocks (`bench/llvmpipe-2cores-2026-11-30-wide-shuffle.json`, `…-wide-gemm.json`,
/// `…-wide-blocks.json`; README, Benchmarks, Past d = 64).
const SHUFFLE_DMAX: usize = 128;
/// Largest d of svgd_phi_shuffle_64 (src/kernels.rs SHUFFLE_64_DMAX), the same kernel unrolled
/// only that far, which the host takes up to that d: half the text, whose pipeline llvmpipe
/// builds in a third of the time even from its shader cache (d = 64: 0.55 against 1.7 s at
/// every process start; commit f4c2a4b). φ with it: `bench/llvmpipe-2cores-2026-12-01.json`.
const SHUFFLE_64_DMAX: usize = 64;
/// Most columns per pass of svgd_phi_shuffle's lane loop (its override COLS, 1 or 2; the
/// subgroup size must be a multiple; src/kernels.rs shuffle_cols picks it per d).
const SHUFFLE_COLS: usize = 2;
/// Texels per row of svgd_phi_shuffle's record texture (src/kernels.rs SHUFFLE_TEXTURE_WIDTH).
const SHUFFLE_TEXTURE_WIDTH: usize = 4096;
/// vec4 row groups per invocation of pair_bracket_shuffle.
const BRACKET_SHUFFLE_GROUPS: usize = 2;
/// Largest d of pair_bracket_shuffle (src/kernels.rs BRACKET_SHUFFLE_DMAX): past d = 64 the
/// looped pair_bracket reads every coordinate through llvmpipe's lane loop (the median took
/// 23 s of a 27 s step at n = 16384, d = 100; with this kernel 1.57 s of 5.4 s,
/// `bench/llvmpipe-2cores-2026-11-30-wide-step.json`).
const BRACKET_SHUFFLE_DMAX: usize = 128;
/// vec4 row groups per invocation of ksd_shuffle and ksd_shuffle_diff.
const KSD_SHUFFLE_GROUPS: usize = 2;
/// Largest d of ksd_shuffle and ksd_shuffle_diff (src/kernels.rs KSD_SHUFFLE_DMAX).
const KSD_SHUFFLE_DMAX: usize = 128;

/// Every generated file, by its path under `shaders/`, in the order [`generate`] writes them.
pub const FILES: [&str; 11] = [
    "kernels/svgd_phi_small.wgsl",
    "kernels/svgd_phi_mid.wgsl",
    "kernels/svgd_phi_wide.wgsl",
    "kernels/svgd_phi_lane.wgsl",
    "kernels/svgd_phi_shuffle.wgsl",
    "kernels/svgd_phi_shuffle_64.wgsl",
    "kernels/pair_bracket_shuffle.wgsl",
    "kernels/ksd_shuffle.wgsl",
    "kernels/ksd_shuffle_diff.wgsl",
    "kernels/pair_bracket_mid.wgsl",
    "kernels/pair_bracket_wide.wgsl",
];

/// Every generated file: (path under `shaders/`, text). `pair_bracket`: the text of
/// `shaders/kernels/pair_bracket.wgsl`, which the unrolled median passes are spliced from.
pub fn generate(pair_bracket: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (i, (name, dmax, rows)) in VARIANTS.into_iter().enumerate() {
        out.push((FILES[i], gen(name, dmax, rows)));
    }
    out.push((FILES[3], gen_lane(64)));
    out.push((FILES[4], gen_shuffle(SHUFFLE_DMAX, SHUFFLE_ROWS)));
    out.push((
        FILES[5],
        gen_shuffle(SHUFFLE_64_DMAX, SHUFFLE_ROWS)
            .replacen(
                "// svgd_phi_shuffle:",
                "// svgd_phi_shuffle_64: svgd_phi_shuffle for d <= 64;",
                1,
            )
            .replacen("fn svgd_phi_shuffle(", "fn svgd_phi_shuffle_64(", 1),
    ));
    out.push((
        FILES[6],
        gen_bracket_shuffle(BRACKET_SHUFFLE_DMAX, BRACKET_SHUFFLE_GROUPS),
    ));
    out.push((
        FILES[7],
        gen_ksd_shuffle(KSD_SHUFFLE_DMAX, KSD_SHUFFLE_GROUPS),
    ));
    out.push((
        FILES[8],
        gen_ksd_shuffle_diff(KSD_SHUFFLE_DMAX, KSD_SHUFFLE_GROUPS),
    ));
    for (i, (name, dmax)) in BRACKET_VARIANTS.into_iter().enumerate() {
        out.push((FILES[9 + i], gen_bracket(pair_bracket, name, dmax)));
    }
    out
}

const XYZW: [char; 4] = ['x', 'y', 'z', 'w'];

/// Appends one formatted line.
macro_rules! ln {
    ($l:expr, $($fmt:tt)*) => {
        $l.push(format!($($fmt)*))
    };
}

/// Appends one line as written (no format braces).
fn raw(l: &mut Vec<String>, s: &str) {
    l.push(s.to_string());
}

/// The lines joined, each ending in a newline.
fn join(l: &[String]) -> String {
    let mut s = l.join("\n");
    s.push('\n');
    s
}

/// `text` cut at the first `anchor` (whose position it returns), or a panic naming both: the
/// splice of [`gen_bracket`] depends on these anchors in `pair_bracket.wgsl`.
fn find(text: &str, anchor: &str) -> usize {
    text.find(anchor).unwrap_or_else(|| {
        panic!("shaders/kernels/pair_bracket.wgsl lost the generator's anchor {anchor:?}")
    })
}

/// pair_bracket for d <= DMAX: the hand-written `shaders/kernels/pair_bracket.wgsl` with its
/// four rows' coordinates unrolled into registers (see [`BRACKET_VARIANTS`] for the
/// measurement). Spliced at string anchors of that file, which panic here when they go.
fn gen_bracket(src: &str, name: &str, dmax: usize) -> String {
    let (head, body) = src
        .split_once("@compute")
        .expect("shaders/kernels/pair_bracket.wgsl has no @compute");
    let head = head.replacen(
        "// pair_bracket:",
        &format!("// pair_bracket_{name}: (d <= {dmax}; GENERATED by {SELF_PATH} from pair_bracket.wgsl)"),
        1,
    );
    let regs = (0..dmax)
        .map(|k| {
            format!("    var x{k} = vec4<f32>(0.0);\n    if D > {k}u {{ x{k} = coord(rc, {k}u); }}")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dist = (1..dmax)
        .map(|k| format!("        if D > {k}u {{ let e = x{k} - x[o + {k}u]; s = fma(e, e, s); }}"))
        .collect::<Vec<_>>()
        .join("\n");
    let (start, end) = (
        find(body, "    var x0 = vec4<f32>(0.0);"),
        find(body, "    var below"),
    );
    let body = format!("{}{regs}\n{}", &body[..start], &body[end..]);
    let (start, end) = (
        find(&body, "        var s: vec4<f32>;"),
        find(&body, "        let mine"),
    );
    let body = format!(
        "{}        let e0 = x0 - x[o];\n        var s = e0 * e0;\n{dist}\n{}",
        &body[..start],
        &body[end..]
    );
    let body = body.replacen("fn pair_bracket(", &format!("fn pair_bracket_{name}("), 1);
    format!("{head}@compute{body}")
}

/// The end shared by [`gen`] and [`gen_shuffle`]: block sums into the totals, then phi (last
/// chunk) or the running sums to scratch, for G vec4 groups of rows.
fn close_rows(l: &mut Vec<String>, groups: usize, dmax: usize, rows_override: bool) -> String {
    for g in 0..groups {
        ln!(l, "        rho{g} += brho{g};");
        for k in 0..dmax {
            ln!(l, "        if D > {k}u {{ a{g}_{k} += b{g}_{k}; }}");
        }
    }
    raw(l, "    }");
    for g in 0..groups {
        for (q, c) in XYZW.into_iter().enumerate() {
            let on = if rows_override && g > 0 {
                format!("ROWS > {}u && ", 4 * g)
            } else {
                String::new()
            };
            ln!(l, "    if {on}base + {}u * WG < p.n {{", 4 * g + q);
            raw(l, "        if last {");
            for k in 0..dmax {
                ln!(l, "            if D > {k}u {{ phi[i{g}_{q} * D + {k}u] = (a{g}_{k}.{c} + two_inv_h * x{g}_{k}.{c} * rho{g}.{c}) * p.inv_n; }}");
            }
            raw(l, "        } else {");
            for k in 0..dmax {
                ln!(
                    l,
                    "            if D > {k}u {{ scratch[i{g}_{q} * D + {k}u] = a{g}_{k}.{c}; }}"
                );
            }
            ln!(l, "            scratch[rho_at + i{g}_{q}] = rho{g}.{c};");
            raw(l, "        }");
            raw(l, "    }");
        }
    }
    raw(l, "}");
    join(l)
}

/// `svgd_phi_{name}`: the row-tiled φ for d <= DMAX, `rows` rows per invocation in vec4
/// registers, columns read at one shared address (see [`VARIANTS`] for the measurements).
fn gen(name: &str, dmax: usize, rows: usize) -> String {
    let groups = rows / 4;
    let d_default = dmax.min(2);
    let mut l = Vec::new();
    ln!(
        l,
        r"// svgd_phi_{name}: the SVGD direction for d <= {dmax},
//   phi_i = 1/n sum_j [ k(x_j, x_i) score_j + 2/h (x_i - x_j) k(x_j, x_i) ].
// GENERATED by {SELF_PATH} (rows and dimensions unrolled; edit the generator).
// Form: c = x_0, xc = x - c (translation invariance: cancellation stays relative to the
// cloud's size), phi_i = 1/n [ sum_j k_ij w_j + 2/h xc_i rho_i ], w_j = score_j - 2/h xc_j,
// rho_i = sum_j k_ij, k_ij from the difference form |xc_i - xc_j|^2.
// Each invocation owns {rows} rows (strided by WG, in registers); all invocations walk the
// columns j_begin..j_end in the same order, reading x_j and score_j at one shared address.
// Columns are read from the storage buffers rather than staged through workgroup memory: a
// GPU serves such a shared address from one cache line, and on llvmpipe the staged version
// measured slower (1.71e9 against 1.88e9 pairs/s, d = 2, n = 16384).
// Column chunks: the host splits j into chunks (llvmpipe stops any invocation after 65535
// loop iterations in total) and records one dispatch per chunk, each with its own uniform;
// flags bit 0 = first chunk (start from zero, else from the scratch sums), bit 1 = last chunk
// (write phi, else write the running sums to scratch). Sums run per block of BLOCK columns,
// then into the totals (bounded f32 error growth). Fixed order: deterministic.
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 score [n,d] | 3 scratch [n*d + n] | 4 phi [n,d] (written)
// Dispatch: (ceil(n / ({rows} WG)), 1, 1). Override D = d (1..{dmax}).
override WG: u32 = 32u;
override D: u32 = {d_default}u;
const BLOCK: u32 = 128u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(4) var<storage, read_write> phi: array<f32>;

@compute @workgroup_size(WG)
fn svgd_phi_{name}(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {{
    let lid = lid3.x;
    let base = wid.x * WG * {rows}u + lid;
    let two_inv_h = 2.0 * p.inv_h;
    let first = (p.flags & 1u) != 0u;
    let last = (p.flags & 2u) != 0u;
    let rho_at = p.n * D;"
    );
    for g in 0..groups {
        for q in 0..4 {
            ln!(
                l,
                "    let i{g}_{q} = min(base + {}u * WG, p.n - 1u);",
                4 * g + q
            );
        }
        for k in 0..dmax {
            let comps = (0..4)
                .map(|q| format!("x[i{g}_{q} * D + {k}u] - x[{k}u]"))
                .collect::<Vec<_>>()
                .join(", ");
            ln!(l, "    var x{g}_{k} = vec4<f32>(0.0);");
            ln!(l, "    var a{g}_{k} = vec4<f32>(0.0);");
            ln!(l, "    if D > {k}u {{");
            ln!(l, "        x{g}_{k} = vec4<f32>({comps});");
            let accs = (0..4)
                .map(|q| format!("scratch[i{g}_{q} * D + {k}u]"))
                .collect::<Vec<_>>()
                .join(", ");
            ln!(l, "        if !first {{ a{g}_{k} = vec4<f32>({accs}); }}");
            raw(&mut l, "    }");
        }
        let rhos = (0..4)
            .map(|q| format!("scratch[rho_at + i{g}_{q}]"))
            .collect::<Vec<_>>()
            .join(", ");
        ln!(l, "    var rho{g} = vec4<f32>(0.0);");
        ln!(l, "    if !first {{ rho{g} = vec4<f32>({rhos}); }}");
    }
    // Block sums: each block of BLOCK columns is summed on its own and then added into the
    // totals, so f32 rounding grows with n / BLOCK + BLOCK instead of n (a row of 32768
    // columns summed straight had 5e-3 relative error in phi where terms cancel).
    raw(
        &mut l,
        "    for (var tb = p.j_begin; tb < p.j_end; tb += BLOCK) {
        let te = min(tb + BLOCK, p.j_end);",
    );
    for g in 0..groups {
        ln!(l, "        var brho{g} = vec4<f32>(0.0);");
        for k in 0..dmax {
            ln!(l, "        var b{g}_{k} = vec4<f32>(0.0);");
        }
    }
    raw(
        &mut l,
        "        for (var t = tb; t < te; t++) {
            let o = t * D;",
    );
    for k in 0..dmax {
        ln!(l, "            var xj{k} = 0.0;");
        ln!(l, "            var wj{k} = 0.0;");
        ln!(l, "            if D > {k}u {{ xj{k} = x[o + {k}u] - x[{k}u]; wj{k} = score[o + {k}u] - two_inv_h * xj{k}; }}");
    }
    for g in 0..groups {
        raw(&mut l, "            {");
        ln!(l, "                let e0 = x{g}_0 - xj0;");
        raw(&mut l, "                var s = e0 * e0;");
        for k in 1..dmax {
            ln!(
                l,
                "                if D > {k}u {{ let e = x{g}_{k} - xj{k}; s = fma(e, e, s); }}"
            );
        }
        raw(
            &mut l,
            "                let kv = rbf4_from_sqdist(s, p.inv_h);",
        );
        ln!(l, "                brho{g} += kv;");
        for k in 0..dmax {
            ln!(
                l,
                "                if D > {k}u {{ b{g}_{k} = fma(kv, vec4<f32>(wj{k}), b{g}_{k}); }}"
            );
        }
        raw(&mut l, "            }");
    }
    raw(&mut l, "        }");
    close_rows(&mut l, groups, dmax, false)
}

/// svgd_phi_lane: one row per invocation, for hardware GPUs. The row-tiled variants of
/// [`gen`] keep 4 to 32 rows per invocation in vec4 registers, which suits llvmpipe (one
/// invocation is one SIMD lane, so register pressure only costs cache traffic) but at d = 64
/// asks a GPU for 768 registers per invocation and spills: on an H100 it ran at 1.1e10
/// pairs/s, a third of PyTorch's dense matrix products. Here an invocation holds its row (D
/// scalars) and the current block's partial sums (D scalars) in registers, and its running
/// totals in its own slots of workgroup memory (each invocation touches only its own slots:
/// no barriers).
///
/// Kept for the lane layout (hardware GPUs without room for `svgd_phi_gemm`), n < 2^18
/// (`LANE_MAX_N`): H100, d = 16, n = 65536: 6.9e10 against the row-tiled kernel's 4.2e10
/// (`bench/h100-2026-11-25-lane.txt`, `bench/h100-2026-11-25-tiled.txt`); H200 sweep with
/// it: `bench/h200-2026-11-30-run1-lane.json`.
fn gen_lane(dmax: usize) -> String {
    let tot = dmax * 64;
    let mut l = Vec::new();
    ln!(
        l,
        r"// svgd_phi_lane: the SVGD direction for d <= {dmax} on hardware GPUs, one row per invocation,
//   phi_i = 1/n sum_j [ k(x_j, x_i) score_j + 2/h (x_i - x_j) k(x_j, x_i) ].
// GENERATED by {SELF_PATH} (dimensions unrolled; edit the generator).
// Same form, chunk flags, block sums and scratch layout as svgd_phi_small/mid/wide (see
// svgd_phi_wide.wgsl): c = x_0, xc = x - c, phi_i = 1/n [ sum_j k_ij w_j + 2/h xc_i rho_i ],
// w_j = score_j - 2/h xc_j. The row and the block's partial sums live in registers; the
// running totals in this invocation's own slots of workgroup memory (TOT[k * WG + lid]).
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 score [n,d] | 3 scratch [n*d + n] | 4 phi [n,d] (written)
// Dispatch: (ceil(n / WG), 1, 1), WG <= 64. Override D = d (1..{dmax}).
override WG: u32 = 64u;
override D: u32 = 2u;
const BLOCK: u32 = 128u;
const WG_MAX: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(4) var<storage, read_write> phi: array<f32>;
var<workgroup> tot: array<f32, {tot}>;

@compute @workgroup_size(WG)
fn svgd_phi_lane(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {{
    let lid = lid3.x;
    let row = wid.x * WG + lid;
    let i = min(row, p.n - 1u);
    let two_inv_h = 2.0 * p.inv_h;
    let first = (p.flags & 1u) != 0u;
    let last = (p.flags & 2u) != 0u;
    let rho_at = p.n * D;"
    );
    for k in 0..dmax {
        ln!(l, "    var x{k} = 0.0;");
        ln!(l, "    if D > {k}u {{");
        ln!(l, "        x{k} = x[i * D + {k}u] - x[{k}u];");
        ln!(l, "        tot[{k}u * WG_MAX + lid] = 0.0;");
        ln!(
            l,
            "        if !first {{ tot[{k}u * WG_MAX + lid] = scratch[i * D + {k}u]; }}"
        );
        raw(&mut l, "    }");
    }
    raw(&mut l, "    var rho = 0.0;");
    raw(&mut l, "    if !first { rho = scratch[rho_at + i]; }");
    raw(
        &mut l,
        "    for (var tb = p.j_begin; tb < p.j_end; tb += BLOCK) {
        let te = min(tb + BLOCK, p.j_end);
        var brho = 0.0;",
    );
    for k in 0..dmax {
        ln!(l, "        var b{k} = 0.0;");
    }
    raw(
        &mut l,
        "        for (var t = tb; t < te; t++) {
            let o = t * D;",
    );
    raw(&mut l, "            let e0 = x0 - (x[o] - x[0u]);");
    raw(&mut l, "            var s = e0 * e0;");
    for k in 1..dmax {
        ln!(l, "            if D > {k}u {{ let e = x{k} - (x[o + {k}u] - x[{k}u]); s = fma(e, e, s); }}");
    }
    raw(&mut l, "            let kv = rbf_from_sqdist(s, p.inv_h);");
    raw(&mut l, "            brho += kv;");
    for k in 0..dmax {
        ln!(l, "            if D > {k}u {{ b{k} = fma(kv, score[o + {k}u] - two_inv_h * (x[o + {k}u] - x[{k}u]), b{k}); }}");
    }
    raw(&mut l, "        }");
    raw(&mut l, "        rho += brho;");
    for k in 0..dmax {
        ln!(
            l,
            "        if D > {k}u {{ tot[{k}u * WG_MAX + lid] += b{k}; }}"
        );
    }
    raw(&mut l, "    }");
    raw(&mut l, "    if row < p.n {");
    raw(&mut l, "        if last {");
    for k in 0..dmax {
        ln!(l, "            if D > {k}u {{ phi[i * D + {k}u] = (tot[{k}u * WG_MAX + lid] + two_inv_h * x{k} * rho) * p.inv_n; }}");
    }
    raw(&mut l, "        } else {");
    for k in 0..dmax {
        ln!(
            l,
            "            if D > {k}u {{ scratch[i * D + {k}u] = tot[{k}u * WG_MAX + lid]; }}"
        );
    }
    raw(&mut l, "            scratch[rho_at + i] = rho;");
    raw(&mut l, "        }");
    raw(&mut l, "    }");
    raw(&mut l, "}");
    join(&l)
}

/// svgd_phi_shuffle: for CPU adapters with subgroups (llvmpipe). Why: llvmpipe turns every
/// storage or workgroup load whose index is not a compile-time or push-constant expression
/// (any load indexed by a loop counter) into a loop over the 8 SIMD lanes with a bounds check
/// and an insert per lane (Mesa's lp_bld_nir_soa.c, emit_load_mem), even when all lanes read
/// the same address, as the row-tiled kernels of [`gen`] do for column j. Here each lane of a
/// subgroup loads a *different* column once, and the columns reach every lane through
/// subgroupShuffle. The lane index is the counter of a loop over the subgroup, which llvmpipe
/// compiles to one vpermd (emit_shuffle); unrolling that loop with constant indices made the
/// file twice as large and was slower.
///
/// The columns come from svgd_phi_pack's records, written into an rgba32float texture and read
/// with textureLoad: llvmpipe fetches texels with a branch-free gather, where a storage-buffer
/// vec4 costs a lane loop of 32 bounds-checked scalar loads. The texture is bound as a
/// read-only storage texture: a sampled texture's textureLoad goes through llvmpipe's sampler
/// code (lp_build_sample_soa), a call per fetch that looks up the mip level's offset and row
/// stride lane by lane, about a third of the kernel's time at d = 64 (JIT profile); a storage
/// texture's load (lp_build_img_op_soa) is inlined, with one row stride for all lanes
/// (n = 16384, alternated: d = 16 7.3e8 -> 8.2e8, d = 64 1.71e8 -> 2.1e8 pairs/s). The records
/// already hold w_j; the squared distance is the dot-product form e_i + e_j + xc_i . u_j (two
/// operations per dimension where the difference form needs three: llvmpipe lowers fma into a
/// multiply and an add). Rows are grouped four to a vec4 as in [`gen`]. Each pass of the lane
/// loop takes COLS columns (an override, 1 or 2; the host takes 2 up to d = 92): the
/// exponents of both first, dimension by dimension (each row value loaded once for both),
/// then each accumulator updated for both in one write (llvmpipe masks every write to a
/// loop-carried variable with a blend). The accumulators add the columns in order, as one
/// column per pass does, so the sums are the same.
///
/// Measured (llvmpipe, 2 cores, n = 16384, pairs/s; README, Benchmarks): storage buffer and
/// one column per pass, against texture and two: d = 5 1.33e9 / 1.52e9, d = 16 6.2e8 / 7.3e8,
/// d = 32 2.9e8 / 3.7e8, d = 64 1.35e8 / 1.69e8, d = 100 7.5e7 / 9.5e7. Dropped: the texture
/// with one column per pass (d = 64: 1.50e8); two columns per pass from the storage buffer
/// (d = 64: 1.28e8); four columns per pass (d = 64: 1.08e8 with the sampled texture, 1.35e8
/// against 2.15e8 with the storage texture; its loop body doubles); 8 rows per invocation past
/// d = 32 (d = 64: 1.19e8 with the sampled texture; 1.56e8 with two columns and 1.92e8 with
/// one, against 2.15e8, with the storage texture); LP_NATIVE_VECTOR_WIDTH=512 (subgroups of
/// 16, whose shuffles llvmpipe compiles to a 16-step scalar loop: d = 16 6.7e7 against 8.2e8);
/// subgroupBroadcast, whose lane index WGSL requires to be a constant; the accumulation taken
/// four columns at a time after a loop of two-column distance passes, with the kernel values
/// kept in select-updated variables (accumulators read and written once per four columns; d =
/// 64: 1.58e8 against 2.25e8, 2026-12-01). Two columns lose past d = 100 with the sampled
/// texture (d = 128: 5.4e7 against 6.5e7 with one), and past about d = 92 with the storage
/// texture (src/kernels.rs, shuffle_cols).
///
/// Kept for the shuffle layout (the default on CPU adapters with subgroups), 5 <= d <= 128
/// (`svgd_phi_shuffle_64` up to d = 64): `bench/llvmpipe-2cores-2026-12-01.json` (d = 16:
/// 7.9e8, d = 64: 2.2e8 pairs/s at n = 16384, where the row-tiled kernels ran 3.9e8 and 3.5e7,
/// `bench/llvmpipe-2cores-2026-11-25-tiled-n16384.json`), and past d = 64
/// `bench/llvmpipe-2cores-2026-11-30-wide-shuffle.json` against `…-wide-gemm.json`.
fn gen_shuffle(dmax: usize, rows: usize) -> String {
    let groups = rows / 4;
    let cols = SHUFFLE_COLS;
    let mut l = Vec::new();
    ln!(
        l,
        r"// svgd_phi_shuffle: the SVGD direction for d <= {dmax} on CPU adapters with subgroups (llvmpipe),
//   phi_i = 1/n sum_j [ k(x_j, x_i) score_j + 2/h (x_i - x_j) k(x_j, x_i) ].
// GENERATED by {SELF_PATH} (rows and dimensions unrolled; edit the generator, whose
// gen_shuffle doc comment says why this form).
// With c the particles' mean (svgd_phi_center) and xc = x - c:
//   phi_i = 1/n [ sum_j k_ij w_j + 2/h xc_i rho_i ],  w_j = score_j - 2/h xc_j,  rho_i = sum_j k_ij,
//   k_ij = exp2(t_ij),  t_ij = min(0, e_i + e_j + xc_i . u_j) = -L |x_i - x_j|^2 (L = log2(e)/h),
// with u_j = 2 L xc_j and e_j = -L |xc_j|^2 from the records of svgd_phi_pack. Rounding: the
// error of t is about 1e-7 (e_i + e_j) = 1e-7 L (|xc_i|^2 + |xc_j|^2), which the centring
// keeps near 1e-7 d / h times the cloud's squared radius (README, Notes for lavapipe).
// Chunk flags, block sums and scratch layout as svgd_phi_small/mid/wide (see
// svgd_phi_wide.wgsl). Each invocation owns ROWS rows (a multiple of 4 up to {rows}; strided by WG, four
// to a vec4): more rows share each column load, fewer compile faster at large d.
// The columns go by in groups of SG (the subgroup size): lane l loads record t0 + l, and
// subgroupShuffle(v, c) hands column t0 + c to every lane, COLS (1..{cols}) columns per pass. The records
// are padded to whole subgroups with k = 0, and chunks start at multiples of SG. Needs: the
// subgroup size is SG (even) on every dispatch, and all lanes of a subgroup run the loops
// together (uniform bounds; rows past n are clamped, never returned).
// Records: the texture holds svgd_phi_pack's vec4 number i at texel (i % TEX_W, i / TEX_W).
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 center [d] | 3 records texture_storage_2d (rgba32float, read,
//   TEX_W wide, n_pad (2 D4 + 1) texels) | 4 scratch [n*d + n] | 5 phi [n,d] (written)
// Dispatch: (ceil(n / (ROWS WG)), 1, 1), WG a multiple of SG. Overrides D = d (1..{dmax}),
// SG = subgroup size, ROWS, COLS. Passes through loop ends per invocation (llvmpipe's loop
// limit counts them, a loop's exit pass included): SG / COLS + 2 per SG columns, plus two per
// BLOCK columns (the host sizes chunks from this).
override WG: u32 = 64u;
override D: u32 = 2u;
override SG: u32 = 8u;
override ROWS: u32 = {rows}u;
override COLS: u32 = {cols}u;
override D4: u32 = (D + 3u) / 4u;
const BLOCK: u32 = 128u;
const TEX_W: u32 = {SHUFFLE_TEXTURE_WIDTH}u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> center: array<f32>;
@group(0) @binding(3) var records: texture_storage_2d<rgba32float, read>;
@group(0) @binding(4) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(5) var<storage, read_write> phi: array<f32>;

fn record(i: u32) -> vec4<f32> {{
    return textureLoad(records, vec2<u32>(i % TEX_W, i / TEX_W));
}}

@compute @workgroup_size(WG)
fn svgd_phi_shuffle(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {{
    let lid = lid3.x;
    let base = wid.x * WG * ROWS + lid;
    let two_inv_h = 2.0 * p.inv_h;
    let first = (p.flags & 1u) != 0u;
    let last = (p.flags & 2u) != 0u;
    let rho_at = p.n * D;
    let stride = 2u * D4 + 1u;"
    );
    for g in 0..groups {
        // Row groups past the first exist only when the override ROWS asks for them.
        let on = if g == 0 {
            String::new()
        } else {
            format!("ROWS > {}u && ", 4 * g)
        };
        for q in 0..4 {
            ln!(
                l,
                "    let i{g}_{q} = min(base + {}u * WG, p.n - 1u);",
                4 * g + q
            );
        }
        let es = (0..4)
            .map(|q| format!("record(i{g}_{q} * stride + 2u * D4).x"))
            .collect::<Vec<_>>()
            .join(", ");
        if g == 0 {
            ln!(l, "    let e{g} = vec4<f32>({es});");
        } else {
            ln!(l, "    var e{g} = vec4<f32>(0.0);");
            ln!(l, "    if ROWS > {}u {{ e{g} = vec4<f32>({es}); }}", 4 * g);
        }
        for k in 0..dmax {
            let comps = (0..4)
                .map(|q| format!("x[i{g}_{q} * D + {k}u] - center[{k}u]"))
                .collect::<Vec<_>>()
                .join(", ");
            let accs = (0..4)
                .map(|q| format!("scratch[i{g}_{q} * D + {k}u]"))
                .collect::<Vec<_>>()
                .join(", ");
            ln!(l, "    var x{g}_{k} = vec4<f32>(0.0);");
            ln!(l, "    var a{g}_{k} = vec4<f32>(0.0);");
            ln!(l, "    if {on}D > {k}u {{");
            ln!(l, "        x{g}_{k} = vec4<f32>({comps});");
            ln!(l, "        if !first {{ a{g}_{k} = vec4<f32>({accs}); }}");
            raw(&mut l, "    }");
        }
        let rhos = (0..4)
            .map(|q| format!("scratch[rho_at + i{g}_{q}]"))
            .collect::<Vec<_>>()
            .join(", ");
        ln!(l, "    var rho{g} = vec4<f32>(0.0);");
        ln!(l, "    if {on}!first {{ rho{g} = vec4<f32>({rhos}); }}");
    }
    raw(
        &mut l,
        "    for (var tb = p.j_begin; tb < p.j_end; tb += BLOCK) {
        let te = min(tb + BLOCK, p.j_end);",
    );
    for g in 0..groups {
        ln!(l, "        var brho{g} = vec4<f32>(0.0);");
        for k in 0..dmax {
            ln!(l, "        var b{g}_{k} = vec4<f32>(0.0);");
        }
    }
    raw(
        &mut l,
        "        for (var t0 = tb; t0 < te; t0 += SG) {
            let o = (t0 + sid) * stride;",
    );
    for q in 0..dmax.div_ceil(4) {
        ln!(l, "            var mu{q} = vec4<f32>(0.0);");
        ln!(l, "            var mw{q} = vec4<f32>(0.0);");
        ln!(l, "            if D4 > {q}u {{ mu{q} = record(o + {q}u); mw{q} = record(o + D4 + {q}u); }}");
    }
    raw(&mut l, "            let me = record(o + 2u * D4).x;");
    raw(&mut l, "            for (var c = 0u; c < SG; c += COLS) {");
    // The exponents of the pass's columns, dimension by dimension. Column cc > 0 exists only
    // when the override COLS asks for it (its shuffles would name a lane past the subgroup).
    let col = |cc: usize, stmt: String| {
        if cc == 0 {
            stmt
        } else {
            format!("if COLS > {cc}u {{ {stmt} }}")
        }
    };
    for cc in 0..cols {
        ln!(l, "                var es{cc} = 0.0;");
        ln!(
            l,
            "                {}",
            col(cc, format!("es{cc} = subgroupShuffle(me, c + {cc}u);"))
        );
    }
    for g in 0..groups {
        for cc in 0..cols {
            ln!(l, "                var t{g}_{cc} = e{g} + es{cc};");
        }
    }
    for k in 0..dmax {
        let (q, comp) = (k / 4, XYZW[k % 4]);
        ln!(l, "                if D > {k}u {{");
        for cc in 0..cols {
            ln!(l, "                    var u{cc} = vec4<f32>(0.0);");
            ln!(
                l,
                "                    {}",
                col(
                    cc,
                    format!("u{cc} = vec4<f32>(subgroupShuffle(mu{q}.{comp}, c + {cc}u));")
                )
            );
        }
        for g in 0..groups {
            let on = if g == 0 {
                String::new()
            } else {
                format!("if ROWS > {}u ", 4 * g)
            };
            let upd = (0..cols)
                .map(|cc| col(cc, format!("t{g}_{cc} = fma(x{g}_{k}, u{cc}, t{g}_{cc});")))
                .collect::<Vec<_>>()
                .join(" ");
            ln!(l, "                    {on}{{ {upd} }}");
        }
        raw(&mut l, "                }");
    }
    // Kernel values, then every accumulator once for the pass's columns, in column order.
    for g in 0..groups {
        if g == 0 {
            raw(&mut l, "                {");
        } else {
            ln!(l, "                if ROWS > {}u {{", 4 * g);
        }
        for cc in 0..cols {
            ln!(
                l,
                "                    t{g}_{cc} = exp2(min(t{g}_{cc}, vec4<f32>(0.0)));"
            );
        }
        for cc in 0..cols {
            ln!(
                l,
                "                    {}",
                col(cc, format!("brho{g} += t{g}_{cc};"))
            );
        }
        raw(&mut l, "                }");
    }
    for k in 0..dmax {
        let (q, comp) = (k / 4, XYZW[k % 4]);
        ln!(l, "                if D > {k}u {{");
        for cc in 0..cols {
            ln!(l, "                    var w{cc} = vec4<f32>(0.0);");
            ln!(
                l,
                "                    {}",
                col(
                    cc,
                    format!("w{cc} = vec4<f32>(subgroupShuffle(mw{q}.{comp}, c + {cc}u));")
                )
            );
        }
        for g in 0..groups {
            let on = if g == 0 {
                String::new()
            } else {
                format!("if ROWS > {}u ", 4 * g)
            };
            let upd = (0..cols)
                .map(|cc| col(cc, format!("b{g}_{k} = fma(t{g}_{cc}, w{cc}, b{g}_{k});")))
                .collect::<Vec<_>>()
                .join(" ");
            ln!(l, "                    {on}{{ {upd} }}");
        }
        raw(&mut l, "                }");
    }
    raw(&mut l, "            }");
    raw(&mut l, "        }");
    close_rows(&mut l, groups, dmax, true)
}

/// pair_bracket_shuffle: pair_bracket for d <= DMAX on CPU adapters with subgroups
/// (llvmpipe), with [`gen_shuffle`]'s column sharing: pair_bracket reads column t's
/// coordinates with a loop counter in the index, which llvmpipe turns into a loop over the 8
/// lanes per value; here lane l loads column t0 + l once and subgroupShuffle hands it to the
/// others. Same distance expression, order, counts, slots and chunk flags as pair_bracket (so
/// the median's selection is unchanged, bit for bit); 4 G rows per invocation. The columns
/// come from x_texture_pack's texture, four coordinates a texel: lane l's loads of column
/// t0 + l differ between lanes, so from x they cost a lane loop per coordinate (d of them per
/// SG columns), from the texture a gather per four.
///
/// Kept for the shuffle layout, d <= 128: llvmpipe, n = 16384, d = 100: the median 23.2 s
/// with the looped pair_bracket, 1.57 s with this kernel
/// (`bench/llvmpipe-2cores-2026-11-30-wide-step.json`; commit b3e53b7); at d = 16 and 64
/// the median went 1.6 -> 0.58 s and 3.0 -> 0.90 s against pair_bracket_mid/wide (commit
/// b24dcf0; the step with those: `bench/llvmpipe-2cores-2026-11-25.json`).
fn gen_bracket_shuffle(dmax: usize, groups: usize) -> String {
    assert_eq!(
        groups, 2,
        "the list loop below is written for two row groups"
    );
    let rows = 4 * groups;
    let list_passes = rows + 1;
    let mut l = Vec::new();
    ln!(
        l,
        r"// pair_bracket_shuffle: pair_bracket (see pair_bracket.wgsl: the counts below and inside
// [lo, hi] of the squared distances D_ij, j > i, and in list mode the in-bracket D_ij into the
// rows' slots) for d <= {dmax} on CPU adapters with subgroups (llvmpipe).
// GENERATED by {SELF_PATH} (rows and dimensions unrolled; see gen_bracket_shuffle).
// The distance expression and its order are pair_bracket's: s = r_0 * r_0, then
// s = fma(r_a, r_a, s), r = x_i - x_j, so the selection is the same bit for bit.
// Each invocation owns {rows} rows (strided by WG, four to a vec4). The columns go by in groups of
// SG: lane l loads column t0 + l, and subgroupShuffle(v, c) hands column t0 + c to every lane.
// All lanes of a subgroup run the same loops: the first column is the subgroup's minimum of
// max(j_begin, row + 1) over its first rows (subgroupMin), later rows mask columns t <= i.
// The columns come from x_texture_pack's texture (four coordinates a texel, a gather per texel
// where llvmpipe loops over the lanes for each storage-buffer coordinate); the rows from x.
// Parts: common/params.wgsl, common/bracket.wgsl
// Bindings: 0 uniform SelectParams | 1 x [n,d] | 2 offsets [n+1] | 3 counts [2n] | 4 out [capacity]
//   | 5 x texture_storage_2d<rgba32float, read> (x_texture_pack: TEX_W wide, n D4 texels)
// Dispatch: (ceil(n / ({rows} WG)), 1, 1), or fewer row blocks from block0 on, WG a multiple of SG.
// Overrides D = d (1..{dmax}), SG = subgroup size. Passes through loop ends per invocation
// (llvmpipe's loop limit counts them, a loop's exit pass included): SG + 2 per SG columns,
// and per column the list loop's 1 to {list_passes}.
override WG: u32 = 64u;
override D: u32 = 2u;
override SG: u32 = 8u;
override D4: u32 = (D + 3u) / 4u;
const TEX_W: u32 = {SHUFFLE_TEXTURE_WIDTH}u;

@group(0) @binding(0) var<uniform> p: SelectParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var xt: texture_storage_2d<rgba32float, read>;

fn coord(r: vec4<u32>, a: u32) -> vec4<f32> {{
    return vec4<f32>(x[r.x * D + a], x[r.y * D + a], x[r.z * D + a], x[r.w * D + a]);
}}

fn texel(t: u32) -> vec4<f32> {{
    return textureLoad(xt, vec2<u32>(t % TEX_W, t / TEX_W));
}}

@compute @workgroup_size(WG)
fn pair_bracket_shuffle(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {{
    let base = (p.block0 + wid.x) * WG * {rows}u + lid3.x;
    let listing = p.mode != 0u;
    let marking = p.mode == 2u;
    let first = (p.flags & 1u) != 0u;"
    );
    for g in 0..groups {
        ln!(l, "    let ra{g} = vec4<u32>({});", row_addresses(g));
        ln!(l, "    let rc{g} = min(ra{g}, vec4<u32>(p.n - 1u));");
        ln!(l, "    let live{g} = ra{g} < vec4<u32>(p.n);");
        for k in 0..dmax {
            ln!(l, "    var x{g}_{k} = vec4<f32>(0.0);");
            ln!(l, "    if D > {k}u {{ x{g}_{k} = coord(rc{g}, {k}u); }}");
        }
        ln!(l, "    var below{g} = vec4<u32>(0u);");
        ln!(l, "    var inside{g} = vec4<u32>(0u);");
        raw(&mut l, "    if !first {");
        ln!(l, "        below{g} = vec4<u32>(counts[2u * rc{g}.x], counts[2u * rc{g}.y], counts[2u * rc{g}.z], counts[2u * rc{g}.w]);");
        ln!(l, "        inside{g} = vec4<u32>(counts[2u * rc{g}.x + 1u], counts[2u * rc{g}.y + 1u], counts[2u * rc{g}.z + 1u], counts[2u * rc{g}.w + 1u]);");
        raw(&mut l, "    }");
        ln!(l, "    var start{g} = vec4<u32>(0u);");
        ln!(l, "    var end{g} = vec4<u32>(0u);");
        raw(&mut l, "    if listing {");
        ln!(l, "        start{g} = vec4<u32>(offsets[rc{g}.x], offsets[rc{g}.y], offsets[rc{g}.z], offsets[rc{g}.w]);");
        ln!(l, "        end{g} = vec4<u32>(offsets[rc{g}.x + 1u], offsets[rc{g}.y + 1u], offsets[rc{g}.z + 1u], offsets[rc{g}.w + 1u]);");
        raw(&mut l, "    }");
    }
    raw(
        &mut l,
        "    // Columns j > i: no row of this subgroup has a partner at or below its first row.
    let t_first = subgroupMin(max(p.j_begin, base + 1u));
    for (var t0 = t_first; t0 < p.j_end; t0 += SG) {
        let o = min(t0 + sid, p.j_end - 1u) * D4;",
    );
    for q in 0..dmax.div_ceil(4) {
        ln!(l, "        var m{q} = vec4<f32>(0.0);");
        ln!(l, "        if D4 > {q}u {{ m{q} = texel(o + {q}u); }}");
    }
    raw(&mut l, "        for (var c = 0u; c < SG; c++) {");
    raw(&mut l, "            let t = t0 + c;");
    raw(&mut l, "            let col = vec4<bool>(t < p.j_end);");
    for k in 0..dmax {
        let (q, comp) = (k / 4, XYZW[k % 4]);
        ln!(l, "            var xs{k} = 0.0;");
        ln!(
            l,
            "            if D > {k}u {{ xs{k} = subgroupShuffle(m{q}.{comp}, c); }}"
        );
    }
    for g in 0..groups {
        ln!(l, "            let e{g}_0 = x{g}_0 - xs0;");
        ln!(l, "            var s{g} = e{g}_0 * e{g}_0;");
        for k in 1..dmax {
            ln!(
                l,
                "            if D > {k}u {{ let e = x{g}_{k} - xs{k}; s{g} = fma(e, e, s{g}); }}"
            );
        }
        ln!(
            l,
            "            let mine{g} = live{g} & col & (vec4<u32>(t) > ra{g});"
        );
        ln!(l, "            let st{g} = bracket_column(s{g}, mine{g}, p.lo, p.hi, start{g}, end{g}, &below{g}, &inside{g}, marking);");
    }
    // The listed distances, one row a pass of one loop over the column's 4 G rows: llvmpipe
    // runs every store as a loop over its 8 lanes whatever their masks, and one store per row
    // and column cost more than the distance at small d; the loop runs one pass more than
    // the most rows any lane lists in this column (usually none or one).
    for g in 0..groups {
        ln!(
            l,
            "            var pend{g} = st{g}.fits & vec4<bool>(listing);"
        );
    }
    raw(&mut l, "            loop {");
    raw(&mut l, "                let h0 = any(pend0);");
    let any = (0..groups)
        .map(|g| format!("any(pend{g})"))
        .collect::<Vec<_>>()
        .join(" || ");
    ln!(l, "                if !({any}) {{ break; }}");
    raw(&mut l, "                let g0 = vec4<bool>(h0);");
    raw(
        &mut l,
        "                let pend = select(pend1, pend0, g0);",
    );
    raw(&mut l, "                let sv = select(s1, s0, g0);");
    raw(
        &mut l,
        "                let sa = select(st1.at, st0.at, g0);",
    );
    raw(&mut l, "                out[select(select(select(sa.w, sa.z, pend.z), sa.y, pend.y), sa.x, pend.x)] = select(select(select(sv.w, sv.z, pend.z), sv.y, pend.y), sv.x, pend.x);");
    raw(&mut l, "                let rest = vec4<bool>(false, pend.y && pend.x, pend.z && (pend.x || pend.y), pend.w && (pend.x || pend.y || pend.z));");
    raw(&mut l, "                pend0 = select(pend0, rest, g0);");
    raw(&mut l, "                pend1 = select(rest, pend1, g0);");
    raw(&mut l, "            }");
    raw(&mut l, "        }");
    raw(&mut l, "    }");
    for g in 0..groups {
        raw(&mut l, "    for (var q = 0u; q < 4u; q++) {");
        ln!(l, "        if live{g}[q] {{");
        ln!(l, "            let i = ra{g}[q];");
        ln!(l, "            counts[2u * i] = below{g}[q];");
        ln!(l, "            counts[2u * i + 1u] = inside{g}[q];");
        raw(&mut l, "        }");
        raw(&mut l, "    }");
    }
    raw(&mut l, "}");
    join(&l)
}

/// `base + r * WG` for the four rows of vec4 group `g`, comma-separated.
fn row_addresses(g: usize) -> String {
    (0..4)
        .map(|q| format!("base + {}u * WG", 4 * g + q))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The end shared by both KSD kernels: the block sums into the totals, then each row's sum
/// written (first chunk, with diag[i] from the lines `diag(g)` gives) or accumulated.
fn ksd_close(l: &mut Vec<String>, groups: usize, diag: impl Fn(usize) -> Vec<String>) {
    for g in 0..groups {
        ln!(l, "        total{g} += block{g};");
    }
    raw(l, "    }");
    for g in 0..groups {
        raw(l, "    for (var q = 0u; q < 4u; q++) {");
        ln!(l, "        let i = ra{g}[q];");
        raw(l, "        if i < p.n {");
        raw(l, "            if first {");
        ln!(l, "                rows[i] = total{g}[q];");
        l.extend(diag(g));
        raw(l, "            } else {");
        ln!(l, "                rows[i] = rows[i] + total{g}[q];");
        raw(l, "            }");
        raw(l, "        }");
        raw(l, "    }");
    }
    raw(l, "}");
}

/// ksd_shuffle: ksd_rows (the KSD's per-row sums of the Stein kernel) for d <= DMAX on CPU
/// adapters with subgroups (llvmpipe), with [`gen_shuffle`]'s column sharing: ksd_rows reads
/// both coordinates of every pair with a loop counter in the index, so llvmpipe runs a lane
/// loop for each of them (a KSD took 13 s at n = 8192, d = 64, ten SVGD steps' worth); here
/// lane l loads column t0 + l once and subgroupShuffle hands it to the others. The columns
/// and rows come from ksd_pack's records in a texture (a gather per four coordinates, where
/// a storage buffer costs a lane loop per coordinate: about a quarter of a KSD at n = 16384,
/// d = 64), and the Stein kernel is two dot products a pair (see ksd_pack.wgsl):
///
/// ```text
/// u_ij = k(|r|^2) (a_i.a_j + (2/h)^2 xc_i.xc_j + g_i + g_j + 2d/h),
/// |r|^2 = nrm_i + nrm_j - 2 xc_i.xc_j,
/// ```
///
/// four operations a dimension where the difference form (ksd_rows) takes eight once
/// llvmpipe has lowered its fmas: the KSD at n = 16384, d = 64 went from about 4.5 to 1.9 s.
/// The diagonal pair's dot products are the same fma chains as the records' nrm_i, so its
/// |r|^2 is 0 and k = 1 exactly, and diag[i] is formed by the same expression as that pair's
/// term: the U-statistic's subtraction of the diagonal stays exact. 4 G rows per invocation;
/// the row state is read-only in the column loop and the only loop-carried values are the G
/// block sums, so llvmpipe blends little here.
///
/// Kept for the shuffle layout, d <= 128, where `ksd_form` picks the bilinear form: the
/// measurements above (13 s -> 1.2 s at n = 8192, d = 64, commit 3584f55; 4.5 -> 1.9 s at
/// n = 16384, d = 64, commit 774fc73). No file under `bench/` times the KSD.
fn gen_ksd_shuffle(dmax: usize, groups: usize) -> String {
    let rows = 4 * groups;
    let q4 = dmax.div_ceil(4);
    let mut l = Vec::new();
    ln!(
        l,
        r"// ksd_shuffle: ksd_rows (see ksd_rows.wgsl) for d <= {dmax} on CPU adapters with subgroups (llvmpipe):
//   rows[i] = sum_j u_ij (diagonal included), diag[i] = u_ii,
//   u_ij = k_ij [ s_i.s_j + 2/h (s_i - s_j).r + 2d/h - 4 |r|^2 / h^2 ],  r = x_i - x_j,
// in ksd_pack's bilinear form (see there): with xc = x - c, a = s - 2/h xc, nrm = |xc|^2 and
// g = 2/h a.xc from the records,
//   u_ij = k(|r|^2) (a_i.a_j + (2/h)^2 xc_i.xc_j + g_i + g_j + 2d/h),
//   |r|^2 = max(nrm_i + nrm_j - 2 xc_i.xc_j, 0),
// the dot products fma chains over the dimensions in order; block sums of BLOCK columns as
// ksd_rows. diag[i] is the same expression for j = i, whose |r|^2 is exactly 0 (nrm_i is the
// same chain), so it equals the diagonal term of rows[i] bit for bit.
// GENERATED by {SELF_PATH} (rows and dimensions unrolled; see gen_ksd_shuffle).
// Each invocation owns {rows} rows (strided by WG, four to a vec4). The columns go by in groups of
// SG: lane l loads column t0 + l's record, and subgroupShuffle(v, c) hands column t0 + c to
// every lane; columns past the chunk add nothing. All lanes of a subgroup run the same loops
// (uniform bounds; rows past n are clamped, never written). Chunk flags as ksd_rows: bit 0 =
// first chunk (start from zero and write diag), else rows[i] accumulates.
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 ksd_pack's records, texture_storage_2d<rgba32float, read>
//   (TEX_W wide, S = 2 D4 + 1 texels a particle) | 2 rows [n] | 3 diag [n] (written)
// Dispatch: (ceil(n / ({rows} WG)), 1, 1), WG a multiple of SG. Overrides D = d (1..{dmax}),
// SG = subgroup size. Passes through loop ends per invocation (llvmpipe's loop limit counts
// them, a loop's exit pass included): SG + 2 per SG columns, plus two per BLOCK columns.
override WG: u32 = 64u;
override D: u32 = 2u;
override SG: u32 = 8u;
override D4: u32 = (D + 3u) / 4u;
const BLOCK: u32 = 128u;
const TEX_W: u32 = {SHUFFLE_TEXTURE_WIDTH}u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var records: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var<storage, read_write> rows: array<f32>;
@group(0) @binding(3) var<storage, read_write> diag: array<f32>;

fn rec(t: u32) -> vec4<f32> {{
    return textureLoad(records, vec2<u32>(t % TEX_W, t / TEX_W));
}}

@compute @workgroup_size(WG)
fn ksd_shuffle(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {{
    let base = wid.x * WG * {rows}u + lid3.x;
    let h1 = 2.0 * p.inv_h;
    let hh = h1 * h1;
    let c0 = h1 * f32(D);
    let first = (p.flags & 1u) != 0u;
    let stride = 2u * D4 + 1u;"
    );
    for g in 0..groups {
        ln!(l, "    let ra{g} = vec4<u32>({});", row_addresses(g));
        ln!(
            l,
            "    let rc{g} = min(ra{g}, vec4<u32>(p.n - 1u)) * stride;"
        );
        for q in 0..q4 {
            for k in 4 * q..4 * q + 4 {
                ln!(l, "    var x{g}_{k} = vec4<f32>(0.0);");
                ln!(l, "    var a{g}_{k} = vec4<f32>(0.0);");
            }
            ln!(l, "    if D4 > {q}u {{");
            for (part, off) in [("x", format!("{q}u")), ("a", format!("D4 + {q}u"))] {
                ln!(l, "        let {part}t0 = rec(rc{g}.x + {off});");
                ln!(l, "        let {part}t1 = rec(rc{g}.y + {off});");
                ln!(l, "        let {part}t2 = rec(rc{g}.z + {off});");
                ln!(l, "        let {part}t3 = rec(rc{g}.w + {off});");
                for (r, c) in XYZW.into_iter().enumerate() {
                    ln!(l, "        {part}{g}_{} = vec4<f32>({part}t0.{c}, {part}t1.{c}, {part}t2.{c}, {part}t3.{c});", 4 * q + r);
                }
            }
            raw(&mut l, "    }");
        }
        ln!(l, "    let st{g}_0 = rec(rc{g}.x + 2u * D4);");
        ln!(l, "    let st{g}_1 = rec(rc{g}.y + 2u * D4);");
        ln!(l, "    let st{g}_2 = rec(rc{g}.z + 2u * D4);");
        ln!(l, "    let st{g}_3 = rec(rc{g}.w + 2u * D4);");
        ln!(
            l,
            "    let n{g} = vec4<f32>(st{g}_0.x, st{g}_1.x, st{g}_2.x, st{g}_3.x);"
        );
        ln!(
            l,
            "    let g{g} = vec4<f32>(st{g}_0.y, st{g}_1.y, st{g}_2.y, st{g}_3.y);"
        );
        ln!(l, "    var total{g} = vec4<f32>(0.0);");
    }
    raw(
        &mut l,
        "    for (var tb = p.j_begin; tb < p.j_end; tb += BLOCK) {
        let te = min(tb + BLOCK, p.j_end);",
    );
    for g in 0..groups {
        ln!(l, "        var block{g} = vec4<f32>(0.0);");
    }
    raw(
        &mut l,
        "        for (var t0 = tb; t0 < te; t0 += SG) {
            let o = min(t0 + sid, te - 1u) * stride;",
    );
    for q in 0..q4 {
        ln!(l, "            var mx{q} = vec4<f32>(0.0);");
        ln!(l, "            var ma{q} = vec4<f32>(0.0);");
        ln!(
            l,
            "            if D4 > {q}u {{ mx{q} = rec(o + {q}u); ma{q} = rec(o + D4 + {q}u); }}"
        );
    }
    raw(&mut l, "            let ms = rec(o + 2u * D4);");
    raw(&mut l, "            for (var c = 0u; c < SG; c++) {");
    raw(&mut l, "                let on = vec4<bool>(t0 + c < te);");
    raw(
        &mut l,
        "                let ns = vec4<f32>(subgroupShuffle(ms.x, c));",
    );
    raw(
        &mut l,
        "                let gs = vec4<f32>(subgroupShuffle(ms.y, c));",
    );
    for k in 0..dmax {
        let m = format!("{}.{}", k / 4, XYZW[k % 4]);
        ln!(l, "                var xs{k} = vec4<f32>(0.0);");
        ln!(l, "                var as{k} = vec4<f32>(0.0);");
        ln!(l, "                if D > {k}u {{ xs{k} = vec4<f32>(subgroupShuffle(mx{m}, c)); as{k} = vec4<f32>(subgroupShuffle(ma{m}, c)); }}");
    }
    for g in 0..groups {
        raw(&mut l, "                {");
        raw(&mut l, "                    var dx = vec4<f32>(0.0);");
        raw(&mut l, "                    var da = vec4<f32>(0.0);");
        for k in 0..dmax {
            ln!(l, "                    if D > {k}u {{ dx = fma(x{g}_{k}, xs{k}, dx); da = fma(a{g}_{k}, as{k}, da); }}");
        }
        ln!(
            l,
            "                    let sq = max(n{g} + ns - 2.0 * dx, vec4<f32>(0.0));"
        );
        raw(
            &mut l,
            "                    let kv = rbf4_from_sqdist(sq, p.inv_h);",
        );
        ln!(l, "                    block{g} = select(block{g}, fma(kv, da + hh * dx + g{g} + gs + c0, block{g}), on);");
        raw(&mut l, "                }");
    }
    raw(&mut l, "            }");
    raw(&mut l, "        }");
    // u_ii by the same expression and chains as the pair (i, i) in the loop above.
    let diag = |g: usize| {
        let mut d = vec![
            "                var dx = 0.0;".to_string(),
            "                var da = 0.0;".to_string(),
        ];
        for k in 0..dmax {
            ln!(d, "                if D > {k}u {{ dx = fma(x{g}_{k}[q], x{g}_{k}[q], dx); da = fma(a{g}_{k}[q], a{g}_{k}[q], da); }}");
        }
        ln!(
            d,
            "                diag[i] = da + hh * dx + g{g}[q] + g{g}[q] + c0;"
        );
        d
    };
    ksd_close(&mut l, groups, diag);
    join(&l)
}

/// ksd_shuffle_diff: ksd_shuffle in ksd_rows' difference form, for particles whose centred
/// squared norms are large against h (src/kernels.rs, ksd_form), where the bilinear form of
/// ksd_shuffle loses digits: ksd_rows (the KSD's per-row sums of the Stein kernel) for d <=
/// DMAX on CPU adapters with subgroups (llvmpipe), with [`gen_shuffle`]'s column sharing:
/// ksd_rows reads both coordinates of every pair with a loop counter in the index, so
/// llvmpipe runs a lane loop for each of them (a KSD took 13 s at n = 8192, d = 64, ten SVGD
/// steps' worth); here lane l loads column t0 + l once and subgroupShuffle hands it to the
/// others. The columns come from x_texture_pack's textures of x and of the score, four
/// coordinates a texel: lane l's loads of column t0 + l differ between lanes, so from the
/// storage buffers they cost a lane loop per coordinate (2d of them per SG columns: about a
/// quarter of a KSD at n = 16384, d = 64), from the textures a gather per four. The rows,
/// loaded once, still come from the buffers. Same terms, order of dimensions and block sums
/// as ksd_rows, and the diagonal pair gives u_ii exactly as diag[i] (r = 0, k = 1), so the
/// U-statistic's subtraction of the diagonal is exact as there; 4 G rows per invocation. The
/// row state is read-only in the column loop and the only loop-carried values are the G
/// block sums, so llvmpipe blends little here.
///
/// Kept for the shuffle layout, d <= 128, where `ksd_form` picks the difference form (the
/// bilinear form's error over 10x the difference form's for two clusters: the KSD form
/// tests); its speed against the looped ksd_rows: the 13 s -> 1.2 s of commit 3584f55
/// (this form was ksd_shuffle then). No file under `bench/` times the KSD.
fn gen_ksd_shuffle_diff(dmax: usize, groups: usize) -> String {
    let rows = 4 * groups;
    let mut l = Vec::new();
    ln!(
        l,
        r"// ksd_shuffle_diff: ksd_rows (see ksd_rows.wgsl) for d <= {dmax} on CPU adapters with subgroups (llvmpipe):
//   u_ij = k_ij [ s_i.s_j + 2/h (s_i - s_j).r + 2d/h - 4 |r|^2 / h^2 ],  r = x_i - x_j,
//   rows[i] = sum_j u_ij (diagonal included), diag[i] = u_ii = s_i.s_i + 2d/h,
// the same expressions, dimension order and block sums of BLOCK columns as ksd_rows.
// GENERATED by {SELF_PATH} (rows and dimensions unrolled; see gen_ksd_shuffle_diff).
// Each invocation owns {rows} rows (strided by WG, four to a vec4). The columns go by in groups of
// SG: lane l loads column t0 + l, and subgroupShuffle(v, c) hands column t0 + c to every
// lane; columns past the chunk add nothing. All lanes of a subgroup run the same loops
// (uniform bounds; rows past n are clamped, never written). Chunk flags as ksd_rows: bit 0 =
// first chunk (start from zero and write diag), else rows[i] accumulates.
// Parts: common/params.wgsl, common/rbf.wgsl
// The columns come from x_texture_pack's textures of x and of the score (texel i * D4 + q holds
// coordinates 4q .. 4q + 3 of particle i, zero past d; the same floats as the buffers).
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 score [n,d] | 3 rows [n] | 4 diag [n] (written) |
//   5, 6 x and score as texture_storage_2d<rgba32float, read> (TEX_W wide)
// Dispatch: (ceil(n / ({rows} WG)), 1, 1), WG a multiple of SG. Overrides D = d (1..{dmax}),
// SG = subgroup size. Passes through loop ends per invocation (llvmpipe's loop limit counts
// them, a loop's exit pass included): SG + 2 per SG columns, plus two per BLOCK columns.
override WG: u32 = 64u;
override D: u32 = 2u;
override SG: u32 = 8u;
override D4: u32 = (D + 3u) / 4u;
const BLOCK: u32 = 128u;
const TEX_W: u32 = {SHUFFLE_TEXTURE_WIDTH}u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read_write> rows: array<f32>;
@group(0) @binding(4) var<storage, read_write> diag: array<f32>;
@group(0) @binding(5) var xt: texture_storage_2d<rgba32float, read>;
@group(0) @binding(6) var st: texture_storage_2d<rgba32float, read>;

fn coord(r: vec4<u32>, a: u32) -> vec4<f32> {{
    return vec4<f32>(x[r.x * D + a], x[r.y * D + a], x[r.z * D + a], x[r.w * D + a]);
}}

fn grad(r: vec4<u32>, a: u32) -> vec4<f32> {{
    return vec4<f32>(score[r.x * D + a], score[r.y * D + a], score[r.z * D + a], score[r.w * D + a]);
}}

fn xtexel(t: u32) -> vec4<f32> {{
    return textureLoad(xt, vec2<u32>(t % TEX_W, t / TEX_W));
}}

fn stexel(t: u32) -> vec4<f32> {{
    return textureLoad(st, vec2<u32>(t % TEX_W, t / TEX_W));
}}

@compute @workgroup_size(WG)
fn ksd_shuffle_diff(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {{
    let base = wid.x * WG * {rows}u + lid3.x;
    let fd = f32(D);
    let h1 = 2.0 * p.inv_h;
    let h2 = 4.0 * p.inv_h * p.inv_h;
    let first = (p.flags & 1u) != 0u;"
    );
    for g in 0..groups {
        ln!(l, "    let ra{g} = vec4<u32>({});", row_addresses(g));
        ln!(l, "    let rc{g} = min(ra{g}, vec4<u32>(p.n - 1u));");
        for k in 0..dmax {
            ln!(l, "    var x{g}_{k} = vec4<f32>(0.0);");
            ln!(l, "    var s{g}_{k} = vec4<f32>(0.0);");
            ln!(l, "    if D > {k}u {{ x{g}_{k} = coord(rc{g}, {k}u); s{g}_{k} = grad(rc{g}, {k}u); }}");
        }
        ln!(l, "    var total{g} = vec4<f32>(0.0);");
    }
    raw(
        &mut l,
        "    for (var tb = p.j_begin; tb < p.j_end; tb += BLOCK) {
        let te = min(tb + BLOCK, p.j_end);",
    );
    for g in 0..groups {
        ln!(l, "        var block{g} = vec4<f32>(0.0);");
    }
    raw(
        &mut l,
        "        for (var t0 = tb; t0 < te; t0 += SG) {
            let o = min(t0 + sid, te - 1u) * D4;",
    );
    for q in 0..dmax.div_ceil(4) {
        ln!(l, "            var mx{q} = vec4<f32>(0.0);");
        ln!(l, "            var ms{q} = vec4<f32>(0.0);");
        ln!(
            l,
            "            if D4 > {q}u {{ mx{q} = xtexel(o + {q}u); ms{q} = stexel(o + {q}u); }}"
        );
    }
    raw(&mut l, "            for (var c = 0u; c < SG; c++) {");
    raw(&mut l, "                let on = vec4<bool>(t0 + c < te);");
    for k in 0..dmax {
        ln!(l, "                var xs{k} = vec4<f32>(0.0);");
        ln!(l, "                var ss{k} = vec4<f32>(0.0);");
        let m = format!("{}.{}", k / 4, XYZW[k % 4]);
        ln!(l, "                if D > {k}u {{ xs{k} = vec4<f32>(subgroupShuffle(mx{m}, c)); ss{k} = vec4<f32>(subgroupShuffle(ms{m}, c)); }}");
    }
    for g in 0..groups {
        raw(&mut l, "                {");
        ln!(l, "                    let r0 = x{g}_0 - xs0;");
        raw(&mut l, "                    var sq = r0 * r0;");
        ln!(l, "                    var sd = s{g}_0 * ss0;");
        ln!(l, "                    var sr = (s{g}_0 - ss0) * r0;");
        for k in 1..dmax {
            ln!(l, "                    if D > {k}u {{ let r = x{g}_{k} - xs{k}; sq = fma(r, r, sq); sd = fma(s{g}_{k}, ss{k}, sd); sr = fma(s{g}_{k} - ss{k}, r, sr); }}");
        }
        raw(
            &mut l,
            "                    let kv = rbf4_from_sqdist(sq, p.inv_h);",
        );
        ln!(l, "                    block{g} = select(block{g}, fma(kv, sd + h1 * sr + h1 * fd - h2 * sq, block{g}), on);");
        raw(&mut l, "                }");
    }
    raw(&mut l, "            }");
    raw(&mut l, "        }");
    let diag = |g: usize| {
        let mut d = vec![format!(
            "                var self_dot = s{g}_0[q] * s{g}_0[q];"
        )];
        for k in 1..dmax {
            ln!(d, "                if D > {k}u {{ self_dot = fma(s{g}_{k}[q], s{g}_{k}[q], self_dot); }}");
        }
        raw(&mut d, "                diag[i] = self_dot + h1 * fd;");
        d
    };
    ksd_close(&mut l, groups, diag);
    join(&l)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first line where `a` and `b` differ (1-based), with both lines.
    fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
        let (mut la, mut lb) = (a.split('\n'), b.split('\n'));
        for i in 1.. {
            match (la.next(), lb.next()) {
                (None, None) => return None,
                (x, y) if x == y => {}
                (x, y) => {
                    let show =
                        |l: Option<&str>| l.map_or("(end of file)".into(), |l| format!("{l:?}"));
                    return Some((i, show(x), show(y)));
                }
            }
        }
        unreachable!()
    }

    /// Regenerates every generated shader and compares it with the committed file; with
    /// `STEIN_BLESS=1` rewrites the files instead (then review and commit them).
    #[test]
    fn generated_shaders_match_the_generator() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let bless = std::env::var("STEIN_BLESS").is_ok_and(|v| v == "1");
        // The splice source as committed now (not as compiled in): a blessed pair_bracket.wgsl
        // and its spliced variants stay in step even before the next build.
        let bracket = std::fs::read_to_string(root.join("kernels/pair_bracket.wgsl")).unwrap();
        let files = generate(&bracket);
        assert_eq!(files.len(), FILES.len());
        let mut stale = Vec::new();
        for (path, text) in &files {
            let file = root.join(path);
            let committed = std::fs::read_to_string(&file).unwrap_or_default();
            if committed == *text {
                continue;
            }
            if bless {
                std::fs::write(&file, text).unwrap_or_else(|e| panic!("shaders/{path}: {e}"));
                eprintln!("blessed shaders/{path}");
            } else {
                let (line, have, want) = first_difference(&committed, text).expect("texts differ");
                stale.push(format!(
                    "shaders/{path} differs from the generator's output at line {line}:\n  committed: {have}\n  generated: {want}"
                ));
            }
        }
        assert!(
            stale.is_empty(),
            "{}\nRegenerate with `STEIN_BLESS=1 cargo test --release --lib generated_shaders` \
             (src/gpu/generate.rs is the source of truth) and commit the files.",
            stale.join("\n")
        );
    }

    #[test]
    fn every_generated_file_is_in_the_registry() {
        for path in FILES {
            assert!(
                crate::gpu::shader::ALL
                    .iter()
                    .any(|s| s.parts.last().is_some_and(|(p, _)| *p == path)),
                "shaders/{path} is generated but no ShaderSpec builds it"
            );
        }
    }

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        assert_eq!(
            first_difference("a\nb\nc", "a\nx\nc"),
            Some((2, "\"b\"".into(), "\"x\"".into()))
        );
        assert_eq!(
            first_difference("a\n", "a\nb"),
            Some((2, "\"\"".into(), "\"b\"".into()))
        );
    }
}
