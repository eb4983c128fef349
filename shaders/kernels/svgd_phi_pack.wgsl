// svgd_phi_pack: the column records of svgd_phi_shuffle and svgd_phi_gemm, one per particle, P = 2 D4 + 1 vec4
// (D4 = ceil(D / 4), zero padded):
//   rec_j = [ u_j (D4 vec4) | w_j (D4 vec4) | (e_j, 0, 0, 0) ],
//   xc_j = x_j - c,  u_j = 2 L xc_j,  w_j = score_j - (2/h) xc_j,  e_j = -L |xc_j|^2,
//   L = log2(e) / h, c = center (svgd_phi_center).
// so that their exponent is t_ij = e_i + e_j + xc_i . u_j = -L |x_i - x_j|^2.
// Records n <= j < n_pad pad the columns to whole subgroups (shuffle) or tiles (gemm): u = w = 0 and e_j = -1e30, so
// k = exp2(-1e30) = 0 (llvmpipe's exp2 clamps its argument: 2^-127, which adds nothing to a
// row sum rho_i >= 1).
// Parts: common/params.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 score [n,d] | 3 center [d] | 4 pack [n_pad * P] (written)
// Dispatch: groups for n_pad items (2-D grid), p.aux = n_pad.
override WG: u32 = 64u;
override D: u32 = 2u;
override D4: u32 = (D + 3u) / 4u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read> center: array<f32>;
@group(0) @binding(4) var<storage, read_write> pack: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn svgd_phi_pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = gid.x + gid.y * (nwg.x * WG);
    if j >= p.aux {
        return;
    }
    let rec = j * (2u * D4 + 1u);
    let l = p.inv_h * LOG2E;
    let two_inv_h = 2.0 * p.inv_h;
    if j >= p.n {
        for (var q = 0u; q < 2u * D4; q++) {
            pack[rec + q] = vec4<f32>(0.0);
        }
        pack[rec + 2u * D4] = vec4<f32>(-1e30, 0.0, 0.0, 0.0);
        return;
    }
    var q2 = 0.0;
    for (var q = 0u; q < D4; q++) {
        var xc = vec4<f32>(0.0);
        var s = vec4<f32>(0.0);
        for (var c = 0u; c < 4u; c++) {
            let k = 4u * q + c;
            if k < D {
                xc[c] = x[j * D + k] - center[k];
                s[c] = score[j * D + k];
            }
        }
        q2 += dot(xc, xc);
        pack[rec + q] = 2.0 * l * xc;
        pack[rec + D4 + q] = s - two_inv_h * xc;
    }
    pack[rec + 2u * D4] = vec4<f32>(-l * q2, 0.0, 0.0, 0.0);
}
