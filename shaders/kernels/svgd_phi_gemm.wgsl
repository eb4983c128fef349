// svgd_phi_gemm: the SVGD direction on hardware GPUs for any d >= 5, as two fused matrix
// products over 64 x 64 tiles of particle pairs (flash-attention style: the kernel matrix
// never leaves workgroup memory),
//   phi_i = 1/n sum_j [ k(x_j, x_i) score_j + 2/h (x_i - x_j) k(x_j, x_i) ]
//         = 1/n [ sum_j k_ij w_j + 2/h xc_i rho_i ],  w_j = score_j - 2/h xc_j,  rho_i = sum_j k_ij,
//   k_ij = exp2(t_ij),  t_ij = min(0, e_i + e_j + xc_i . u_j) = -L |x_i - x_j|^2 (L = log2(e)/h),
// with xc = x - c (c the particles' mean, svgd_phi_center) and u_j = 2 L xc_j, w_j and
// e_j = -L |xc_j|^2 from the column records of svgd_phi_pack (padded with k = 0 to whole
// blocks of 64). Same form and rounding as svgd_phi_shuffle (whose header says why centring).
//
// A workgroup of 256 invocations (tr, tc) = (lid / 16, lid % 16) owns 64 rows; per block of
// 64 columns:
//   1. T = Xr . U^T over d in chunks of KC = min(32, 4 ceil(d / 4)) dims staged in workgroup memory: invocation (tr, tc)
//      holds the 4 x 4 tile of rows 4 tr + r and columns tc + 16 c in registers (one vec4 of
//      rows and one of columns per dimension: 16 multiply-adds per two loads);
//   2. K = exp2(min(0, e_i + e_j + T)) into workgroup memory (ks[tr][j]: four rows per vec4),
//      row sums in registers;
//   3. O += K . W for 4 DV output dimensions at a time: invocation (tr, tc) owns rows 4 tr + r
//      and dims 4 v .. 4 v + 3 (v = tc % DV) over the columns of group g = tc / DV (64 / G
//      columns each, G = 16 / DV groups, visited in an order rotated by g so the groups read
//      different banks); the groups' partial sums are added in a fixed order at the end.
//      Up to SP = 4 such sub-passes share each K tile (d <= 256 in one dispatch pass); more
//      dimensions go to further passes (dispatch y), each recomputing K.
// Deterministic: every sum runs in a fixed order, no atomics.
// Chunks of columns (dispatches) start at multiples of 64; running sums between chunks in
// scratch: sum_j k_ij w_j at [i * d + k], rho_i of pass y at [n d + y n + i].
// Workgroup memory: 2 x 1024 vec4 = 32 KiB (ks; sh holds the staged rows and columns in step
// 1, W in step 3, the reductions at the end).
// Built without runtime checks (ShaderSpec::trusted): every index is in bounds by
// construction, given what the host checks before dispatch (x and phi hold n d values, center
// d, pack n_pad (2 D4 + 1) vec4 with n_pad = aux a multiple of 64 >= n, scratch
// n d + passes n where there are several chunks, j_begin a multiple of 64, j_end <= n):
//   - rows: x[row D + k] only for row < n, k < D; e_i from record min(i, n_pad - 1);
//   - columns: jb + j <= jb + 63 < n_pad since jb < j_end <= n and 64 | jb; q < REC;
//   - workgroup: k < KC <= 32 so rows < 512 and columns < 1024 in sh; W at j DV + v < 64 DV
//     <= 1024; ks at tr 64 + j < 1024 and lid 4 + r < 1024; vector components r, c < 4;
//   - outputs: i < n, k < D; rho of pass y < passes at n d + y n + i.
// Every loop ends (jb steps by 64 up to j_end < 2^32 - 64), every divisor is a positive
// constant.
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 center [d] | 3 pack [n_pad * (2 D4 + 1)] vec4
//   | 4 scratch [n*d + passes*n] | 5 phi [n,d] (written)
// Dispatch: (ceil(n / 64), passes = ceil(D4 / (DV SP)), 1) with p.aux = n_pad = 64 ceil(n / 64).
// Overrides: WG = 256 (the tiling assumes it), D = d, DV in {2, 4, 8, 16} (vec4s of output per
// sub-pass), SP in 1..4 (sub-passes per pass).
// Passes through loop ends per invocation (llvmpipe's limit): per 64 columns at most
// ceil(d / 32) 46 + 20 + 71 SP (KC = 32 when d > 28, one chunk of KC (KC + 14) otherwise);
// fixed at most 400.
override WG: u32 = 256u;
override D: u32 = 16u;
override DV: u32 = 4u;
override D4: u32 = (D + 3u) / 4u;
override REC: u32 = 2u * D4 + 1u;
override G: u32 = 16u / DV;
override GC: u32 = 64u / G;
// Sub-passes per dispatch pass (1..4): dimensions 4 DV s .. of sub-pass s reuse one K tile.
override SP: u32 = 1u;
const DK: u32 = 32u;
// Dimensions staged per chunk: DK, or d rounded up to 4 when smaller (no zero rows to load).
override KC: u32 = min(DK, 4u * D4);
const XC: u32 = 512u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> center: array<f32>;
@group(0) @binding(3) var<storage, read> pack: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(5) var<storage, read_write> phi: array<f32>;

// ks[tr * 64 + j]: k of rows 4 tr .. 4 tr + 3 at column j of the block.
var<workgroup> ks: array<vec4<f32>, 1024>;
// Step 1: rows at sh[k * 16 + tr] (component r: row 4 tr + r, dimension k0 + k), columns at
// sh[XC + k * 16 + tc] (component c: column tc + 16 c). Step 3: W at sh[j * DV + v].
var<workgroup> sh: array<vec4<f32>, 1024>;

@compute @workgroup_size(WG)
fn svgd_phi_gemm(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let tr = lid / 16u;
    let tc = lid % 16u;
    let v = tc % DV;
    let g = tc / DV;
    let ib = wid.x * 64u;
    let pass_y = wid.y;
    let first = (p.flags & 1u) != 0u;
    let last = (p.flags & 2u) != 0u;
    let e_at = 2u * D4;

    var ei = vec4<f32>(0.0);
    for (var r = 0u; r < 4u; r++) {
        ei[r] = pack[min(ib + 4u * tr + r, p.aux - 1u) * REC + e_at].x;
    }
    // o[4 s + r]: row 4 tr + r, dimensions 4 v .. 4 v + 3 of sub-pass s.
    var o: array<vec4<f32>, 16>;
    var rs = vec4<f32>(0.0);

    for (var jb = p.j_begin; jb < p.j_end; jb += 64u) {
        // 1. T = Xr . U^T, dimensions in chunks of KC.
        var t0 = vec4<f32>(0.0);
        var t1 = vec4<f32>(0.0);
        var t2 = vec4<f32>(0.0);
        var t3 = vec4<f32>(0.0);
        for (var k0 = 0u; k0 < D; k0 += KC) {
            workgroupBarrier();
            for (var m = lid; m < 64u * KC; m += 256u) {
                let i = m / KC;
                let k = m % KC;
                let row = ib + i;
                var val = 0.0;
                if row < p.n && k0 + k < D {
                    val = x[row * D + k0 + k] - center[k0 + k];
                }
                sh[k * 16u + i / 4u][i % 4u] = val;
            }
            for (var m = lid; m < 16u * KC; m += 256u) {
                let j = m / (KC / 4u);
                let q = k0 / 4u + m % (KC / 4u);
                var u = vec4<f32>(0.0);
                if q < D4 {
                    u = pack[(jb + j) * REC + q];
                }
                let at = XC + (4u * (m % (KC / 4u))) * 16u + j % 16u;
                let c = j / 16u;
                sh[at][c] = u.x;
                sh[at + 16u][c] = u.y;
                sh[at + 32u][c] = u.z;
                sh[at + 48u][c] = u.w;
            }
            workgroupBarrier();
            let kn = min(KC, D - k0);
            for (var k = 0u; k < kn; k++) {
                let a = sh[k * 16u + tr];
                let b = sh[XC + k * 16u + tc];
                t0 += a.x * b;
                t1 += a.y * b;
                t2 += a.z * b;
                t3 += a.w * b;
            }
        }
        // 2. Kernel values of the 4 x 4 tile, row sums, K into workgroup memory.
        var ej = vec4<f32>(0.0);
        for (var c = 0u; c < 4u; c++) {
            ej[c] = pack[(jb + tc + 16u * c) * REC + e_at].x;
        }
        let k0v = exp2(min(vec4<f32>(0.0), ei.x + ej + t0));
        let k1v = exp2(min(vec4<f32>(0.0), ei.y + ej + t1));
        let k2v = exp2(min(vec4<f32>(0.0), ei.z + ej + t2));
        let k3v = exp2(min(vec4<f32>(0.0), ei.w + ej + t3));
        rs += vec4<f32>(
            (k0v.x + k0v.y) + (k0v.z + k0v.w),
            (k1v.x + k1v.y) + (k1v.z + k1v.w),
            (k2v.x + k2v.y) + (k2v.z + k2v.w),
            (k3v.x + k3v.y) + (k3v.z + k3v.w),
        );
        for (var c = 0u; c < 4u; c++) {
            ks[tr * 64u + tc + 16u * c] = vec4<f32>(k0v[c], k1v[c], k2v[c], k3v[c]);
        }
        // 3. For each sub-pass s: W of its dimensions, then O_s += K . W.
        for (var sp = 0u; sp < SP; sp++) {
            workgroupBarrier();
            for (var m = lid; m < 64u * DV; m += 256u) {
                let q = (pass_y * SP + sp) * DV + m % DV;
                var w = vec4<f32>(0.0);
                if q < D4 {
                    w = pack[(jb + m / DV) * REC + D4 + q];
                }
                sh[m] = w;
            }
            workgroupBarrier();
            var a0 = o[4u * sp];
            var a1 = o[4u * sp + 1u];
            var a2 = o[4u * sp + 2u];
            var a3 = o[4u * sp + 3u];
            for (var jj = 0u; jj < GC; jj++) {
                let j = g * GC + ((jj + g) & (GC - 1u));
                let kk = ks[tr * 64u + j];
                let w = sh[j * DV + v];
                a0 += kk.x * w;
                a1 += kk.y * w;
                a2 += kk.z * w;
                a3 += kk.w * w;
            }
            o[4u * sp] = a0;
            o[4u * sp + 1u] = a1;
            o[4u * sp + 2u] = a2;
            o[4u * sp + 3u] = a3;
        }
    }

    // Row sums over the 16 invocations of a row group, then per sub-pass the outputs over the
    // G column groups, each added in a fixed order.
    workgroupBarrier();
    sh[tr * 16u + tc] = rs;
    workgroupBarrier();
    var rho = vec4<f32>(0.0);
    for (var t = 0u; t < 16u; t++) {
        rho += sh[tr * 16u + t];
    }
    let two_inv_h = 2.0 * p.inv_h;
    let rho_at = p.n * D + pass_y * p.n;
    for (var sp = 0u; sp < SP; sp++) {
        for (var r = 0u; r < 4u; r++) {
            ks[lid * 4u + r] = o[4u * sp + r];
        }
        workgroupBarrier();
        let dim0 = 4u * ((pass_y * SP + sp) * DV + v);
        for (var r = 0u; r < 4u; r++) {
            let i = ib + 4u * tr + r;
            if g != 0u || i >= p.n {
                break;
            }
            var tot = vec4<f32>(0.0);
            for (var gg = 0u; gg < G; gg++) {
                tot += ks[(tr * 16u + gg * DV + v) * 4u + r];
            }
            // Between chunks the running rho of a row is read and rewritten by its (v = 0,
            // sp = 0) invocation alone (no other invocation touches it then); the last chunk
            // only reads it.
            var rho_i = rho[r];
            if !first && (last || (v == 0u && sp == 0u)) {
                rho_i += scratch[rho_at + i];
            }
            for (var c = 0u; c < 4u; c++) {
                let k = dim0 + c;
                if k < D {
                    var s = tot[c];
                    if !first {
                        s += scratch[i * D + k];
                    }
                    if last {
                        phi[i * D + k] = (s + two_inv_h * (x[i * D + k] - center[k]) * rho_i) * p.inv_n;
                    } else {
                        scratch[i * D + k] = s;
                    }
                }
            }
            if !last && v == 0u && sp == 0u {
                scratch[rho_at + i] = rho_i;
            }
        }
        workgroupBarrier();
    }
}
