// svgd_phi_pack: the column records of svgd_phi_gemm and svgd_phi_shuffle, one per particle, P = 2 D4 + 1 vec4
// (D4 = ceil(D / 4), zero padded):
//   rec_j = [ u_j (D4 vec4) | w_j (D4 vec4) | (e_j, 0, 0, 0) ],
//   xc_j = x_j - c,  u_j = 2 L xc_j,  w_j = score_j - (2/h) xc_j,  e_j = -L |xc_j|^2,
//   L = log2(e) / h, c = center (svgd_phi_center).
// so that their exponent is t_ij = e_i + e_j + xc_i . u_j = -L |x_i - x_j|^2.
// Records n <= j < n_pad pad the columns to whole subgroups (shuffle) or tiles (gemm): u = w = 0 and e_j = -1e30, so
// k = exp2(-1e30) = 0 (llvmpipe's exp2 clamps its argument: 2^-127, which adds nothing to a
// row sum rho_i >= 1).
// Where they go (override TEXTURE): false, into the buffer pack (svgd_phi_gemm reads them
// there); true, into the rgba32float storage texture svgd_phi_shuffle reads, vec4 number i at
// texel (i % TEX_W, i / TEX_W), so that CPU adapters hold the records once (a buffer copied
// into the texture held them twice). The other binding gets a placeholder.
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 score [n,d] | 3 center [d] | 4 pack [n_pad * P]
//   (written unless TEXTURE) | 5 records texture_storage_2d<rgba32float, write> (TEX_W wide, at
//   least ceil(n_pad P / TEX_W) rows; written if TEXTURE)
// Dispatch: groups for n_pad items (2-D grid), p.aux = n_pad.
override WG: u32 = 64u;
override D: u32 = 2u;
override D4: u32 = (D + 3u) / 4u;
override TEXTURE: bool = false;
const TEX_W: u32 = 4096u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read> center: array<f32>;
@group(0) @binding(4) var<storage, read_write> pack: array<vec4<f32>>;
@group(0) @binding(5) var records: texture_storage_2d<rgba32float, write>;

fn store_record(i: u32, v: vec4<f32>) {
    if TEXTURE {
        textureStore(records, vec2<u32>(i % TEX_W, i / TEX_W), v);
    } else {
        pack[i] = v;
    }
}

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
            store_record(rec + q, vec4<f32>(0.0));
        }
        store_record(rec + 2u * D4, vec4<f32>(-1e30, 0.0, 0.0, 0.0));
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
        store_record(rec + q, 2.0 * l * xc);
        store_record(rec + D4 + q, s - two_inv_h * xc);
    }
    store_record(rec + 2u * D4, vec4<f32>(-l * q2, 0.0, 0.0, 0.0));
}
