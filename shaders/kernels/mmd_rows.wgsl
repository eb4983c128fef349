// mmd_rows: per-row RBF kernel sums for the unbiased MMD^2 between a sample X (rows 0..nx of
// z, nx = p.aux) and a sample Y (rows nx..n of z), k(a, b) = exp(-|a - b|^2 / h):
//   rows[2i]     = sum_{j <  nx, j != i} k(z_i, z_j)
//   rows[2i + 1] = sum_{j >= nx, j != i} k(z_i, z_j)
// The host forms MMD^2_u = Kxx / (nx(nx-1)) + Kyy / (ny(ny-1)) - 2 Kxy / (nx ny) from them,
// summing in f64 in row order: deterministic, no atomics.
// Column chunks as in ksd_rows: one dispatch per chunk [j_begin, j_end); flags bit 0 = first
// chunk (start from zero), otherwise the sums accumulate. Block sums of 128 columns.
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 z [n,d] | 2 rows [2n] (written)
// Dispatch: 2-D grid over n rows (gid.x + gid.y * nwg.x * WG).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> rows: array<f32>;

@compute @workgroup_size(WG)
fn mmd_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if i >= p.n {
        return; // no barriers in this kernel
    }
    let d = p.d;
    let nx = p.aux;
    var tx = 0.0;
    var ty = 0.0;
    var bx = 0.0;
    var by = 0.0;
    for (var t = p.j_begin; t < p.j_end; t++) {
        var sq = 0.0;
        for (var a = 0u; a < d; a++) {
            let r = z[i * d + a] - z[t * d + a];
            sq = fma(r, r, sq);
        }
        let kv = select(rbf_from_sqdist(sq, p.inv_h), 0.0, t == i);
        if t < nx {
            bx += kv;
        } else {
            by += kv;
        }
        if ((t - p.j_begin) & 127u) == 127u {
            tx += bx;
            ty += by;
            bx = 0.0;
            by = 0.0;
        }
    }
    tx += bx;
    ty += by;
    if (p.flags & 1u) != 0u {
        rows[2u * i] = tx;
        rows[2u * i + 1u] = ty;
    } else {
        rows[2u * i] = rows[2u * i] + tx;
        rows[2u * i + 1u] = rows[2u * i + 1u] + ty;
    }
}
