// ksd_rows: per-row sums of the Stein kernel for the RBF kernel, r = x_i - x_j:
//   u_ij = k_ij [ s_i.s_j + 2/h (s_i - s_j).r + 2d/h - 4 |r|^2 / h^2 ]
//   rows[i] = sum_j u_ij (diagonal included), diag[i] = u_ii = s_i.s_i + 2d/h.
// The host forms KSD^2 = sum(rows) / n^2 (V-statistic) or (sum(rows) - sum(diag)) / (n(n-1))
// (U-statistic), summing in f64 in row order: deterministic.
// Column chunks as in svgd_phi: one dispatch per chunk [j_begin, j_end); flags bit 0 = first
// (start from zero and write diag), otherwise rows[i] accumulates.
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 score [n,d] | 3 rows [n] | 4 diag [n] (written)
// Dispatch: (ceil(n / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read_write> rows: array<f32>;
@group(0) @binding(4) var<storage, read_write> diag: array<f32>;

@compute @workgroup_size(WG)
fn ksd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if i >= p.n {
        return; // no barriers in this kernel
    }
    let d = p.d;
    let fd = f32(d);
    let h1 = 2.0 * p.inv_h;
    let h2 = 4.0 * p.inv_h * p.inv_h;
    let first = (p.flags & 1u) != 0u;
    var total = 0.0;
    var block = 0.0;
    for (var t = p.j_begin; t < p.j_end; t++) {
        var sq = 0.0;
        var ss = 0.0;
        var sr = 0.0;
        for (var a = 0u; a < d; a++) {
            let xi = x[i * d + a];
            let si = score[i * d + a];
            let sj = score[t * d + a];
            let r = xi - x[t * d + a];
            sq = fma(r, r, sq);
            ss = fma(si, sj, ss);
            sr = fma(si - sj, r, sr);
        }
        let kv = rbf_from_sqdist(sq, p.inv_h);
        block = fma(kv, ss + h1 * sr + h1 * fd - h2 * sq, block);
        // Block sums of 128 columns, then into the total: bounded f32 error growth.
        if ((t - p.j_begin) & 127u) == 127u {
            total += block;
            block = 0.0;
        }
    }
    total += block;
    if first {
        rows[i] = total;
        var self_dot = 0.0;
        for (var a = 0u; a < d; a++) {
            let s = score[i * d + a];
            self_dot = fma(s, s, self_dot);
        }
        diag[i] = self_dot + h1 * fd;
    } else {
        rows[i] = rows[i] + total;
    }
}
