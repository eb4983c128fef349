// svgd_phi: the SVGD direction for any d (the crate uses it for d > 64; svgd_phi_{small,mid,wide}
// cover smaller d with unrolled registers):
//   phi_i = 1/n sum_j [ k(x_j, x_i) score_j + 2/h (x_i - x_j) k(x_j, x_i) ]
//         = 1/n [ sum_j k_ij w_j + 2/h (x_i - c) rho_i ],  w_j = score_j - 2/h (x_j - c),
//   rho_i = sum_j k_ij, c = x_0 (translation invariance keeps cancellation relative to the
//   cloud's size).
// Invocation (i, y) owns row i and output dimensions y*DC .. y*DC + DC - 1; the squared
// distance runs over all d dimensions. Column chunks as in svgd_phi_small: one dispatch per
// chunk [j_begin, j_end), flags bit 0 = first (start from zero), bit 1 = last (write phi,
// else the running sums to scratch). Fixed order, no atomics: deterministic.
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 score [n,d] | 3 scratch [n*d + ceil(d/DC)*n]
//           | 4 phi [n,d] (written)
// Dispatch: (ceil(n / WG), ceil(d / DC), 1).
override WG: u32 = 64u;
const DC: u32 = 64u;
const BLOCK: u32 = 128u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(4) var<storage, read_write> phi: array<f32>;

@compute @workgroup_size(WG)
fn svgd_phi(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(workgroup_id) wid: vec3<u32>) {
    let i = gid.x;
    if i >= p.n {
        return; // no barriers in this kernel
    }
    let d = p.d;
    let y0 = wid.y * DC;
    let dy = min(DC, d - y0);
    let rho_at = p.n * d + wid.y * p.n;
    let first = (p.flags & 1u) != 0u;
    let last = (p.flags & 2u) != 0u;
    let two_inv_h = 2.0 * p.inv_h;
    var acc: array<f32, DC>;
    var rho = 0.0;
    var bacc: array<f32, DC>;
    for (var a = 0u; a < dy; a++) {
        acc[a] = select(scratch[i * d + y0 + a], 0.0, first);
    }
    if !first {
        rho = scratch[rho_at + i];
    }
    // Block sums of BLOCK columns, then into the totals: bounded f32 error growth.
    for (var tb = p.j_begin; tb < p.j_end; tb += BLOCK) {
        var brho = 0.0;
        for (var a = 0u; a < dy; a++) {
            bacc[a] = 0.0;
        }
        for (var t = tb; t < min(tb + BLOCK, p.j_end); t++) {
            var s = 0.0;
            for (var a = 0u; a < d; a++) {
                let e = x[i * d + a] - x[t * d + a];
                s = fma(e, e, s);
            }
            let kv = rbf_from_sqdist(s, p.inv_h);
            brho += kv;
            for (var a = 0u; a < dy; a++) {
                let g = t * d + y0 + a;
                bacc[a] = fma(kv, score[g] - two_inv_h * (x[g] - x[y0 + a]), bacc[a]);
            }
        }
        rho += brho;
        for (var a = 0u; a < dy; a++) {
            acc[a] += bacc[a];
        }
    }
    if last {
        for (var a = 0u; a < dy; a++) {
            let xc = x[i * d + y0 + a] - x[y0 + a];
            phi[i * d + y0 + a] = (acc[a] + two_inv_h * xc * rho) * p.inv_n;
        }
    } else {
        for (var a = 0u; a < dy; a++) {
            scratch[i * d + y0 + a] = acc[a];
        }
        scratch[rho_at + i] = rho;
    }
}
