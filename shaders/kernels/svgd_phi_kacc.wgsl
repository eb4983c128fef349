// svgd_phi_kacc: the SVGD direction for large d from the kernel blocks (svgd_phi_kblock) and
// their row sums (svgd_phi_krho), with c = x_0 (translation invariance):
//   acc[i, a] += sum_jj kblock[i, jj] w[j, a],  w_j = score_j - 2/h (x_j - c)
//   last block: phi[i, a] = (acc[i, a] + 2/h (x_i[a] - c[a]) rho_i) / n
// One invocation per (i, a), a fastest: a workgroup reads consecutive w entries and one
// kblock row. Each acc element has one owner and the blocks run in order: deterministic.
// Parts: common/params.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 score [n,d] | 3 kblock [n, TB] | 4 rho [n]
//           | 5 acc [n,d] (updated) | 6 phi [n,d] (written on the last block)
// Dispatch: (ceil(n d / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read> kblock: array<f32>;
@group(0) @binding(4) var<storage, read> rho: array<f32>;
@group(0) @binding(5) var<storage, read_write> acc: array<f32>;
@group(0) @binding(6) var<storage, read_write> phi: array<f32>;

@compute @workgroup_size(WG)
fn svgd_phi_kacc(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e >= p.n * p.d {
        return; // no barriers in this kernel
    }
    let i = e / p.d;
    let a = e % p.d;
    let tb = p.j_end - p.j_begin;
    let two_inv_h = 2.0 * p.inv_h;
    let c = x[a];
    var s = 0.0;
    for (var jj = 0u; jj < tb; jj++) {
        let g = (p.j_begin + jj) * p.d + a;
        s = fma(kblock[i * tb + jj], score[g] - two_inv_h * (x[g] - c), s);
    }
    var total = s;
    if (p.flags & 1u) == 0u {
        total = acc[e] + s;
    }
    if (p.flags & 2u) != 0u {
        phi[e] = (total + two_inv_h * (x[e] - c) * rho[i]) * p.inv_n;
    } else {
        acc[e] = total;
    }
}
