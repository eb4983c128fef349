//! Targets written in WGSL by the user: the JSON's files read and checked, the user's code
//! spliced into stein's score and log-density kernels, validated with naga (a mistake is one
//! line naming the user's file, line and column), and the pipelines that run it. The
//! conventions the user writes to are in docs/targets.md.
//!
//! The module stein builds is the user's file first, unchanged, so that naga's line and
//! column are the user's own; then stein's part: `DIM`, the constants, each data array's
//! `<name>_rows`, `<name>_cols` and accessor, the particle accessor `x(i, k)`, `set_grad`,
//! `add_grad`, the bindings (all named `stein_*`) and two entry points. WGSL allows
//! declarations in any order, so the user's code may use what comes after it.
//!
//! Errors the user's code makes at run time (reading `x(i, k)` with `k ≥ DIM`, a data row
//! past its array, a coordinate `grad_log_p` left unset, a NaN or infinite score) are kept
//! on the device in a two-word flag: the first step at which one happened and, for that
//! step, the lowest particle with its kind. The host reads it only where the run reads
//! back anyway ([`crate::svgd::Score::check`]). The accessors check without branching: a
//! failed check sets its kind's bit in a word of the invocation's own (`stein_err`), and the
//! entry point reports the lowest bit once, at its end. (llvmpipe runs the body of an `if`
//! whatever its lanes decide, so a check that called the atomics cost them at every data
//! access; docs/lavapipe.md §4.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::Deserialize;

use crate::gpu::pipeline::{Binding, Kernel};
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::io::npy::{format_shape, read_npy, Dtype, NpyData};
use crate::io::target::DeviceCheck;
use Binding::{ReadOnly as R, ReadWrite as W, Uniform as U};

/// Entry point of the score kernel: `grad_log_p(i)` for each particle.
pub const SCORE_ENTRY: &str = "stein_target_score";
/// Entry point of the log-density kernel: `log_p(i)` for each row.
pub const LOG_P_ENTRY: &str = "stein_target_log_p";
/// The binding table of both entry points: parameters, particles, packed data, score,
/// log-densities, flag, the minibatches' row permutation.
pub const BINDINGS: &[Binding] = &[U, R, R, W, W, W, R];
/// Workgroup size of both entry points (override `STEIN_WG`).
const WG: u32 = 64;
/// What the score kernel writes before calling `grad_log_p`: a NaN whose payload says
/// "not set" (passed through the uniform: naga refuses a NaN constant).
pub const UNSET: u32 = 0x7fc0_5e1e;
/// Flag kinds, in the order they are reported for one particle (causes before symptoms).
const KIND_X_INDEX: u32 = 1;
const KIND_GRAD_INDEX: u32 = 2;
const KIND_DATA_INDEX: u32 = 3;
const KIND_BATCH_INDEX: u32 = 4;
const KIND_UNSET: u32 = 5;
const KIND_NONFINITE: u32 = 6;

/// Names stein declares beside the user's code (besides everything starting `stein_`).
const STEIN_NAMES: &[&str] = &[
    "DIM",
    "x",
    "set_grad",
    "add_grad",
    "log_p",
    "grad_log_p",
    "batch_size",
    "batch_row",
    "batch_scale",
];

/// WGSL's keywords and reserved words a constant or data array may not be named.
const WGSL_WORDS: &[&str] = &[
    "alias",
    "break",
    "case",
    "const",
    "const_assert",
    "continue",
    "continuing",
    "default",
    "diagnostic",
    "discard",
    "else",
    "enable",
    "false",
    "fn",
    "for",
    "if",
    "let",
    "loop",
    "override",
    "requires",
    "return",
    "struct",
    "switch",
    "true",
    "var",
    "while",
    "f32",
    "f16",
    "i32",
    "u32",
    "bool",
    "vec2",
    "vec3",
    "vec4",
    "mat2x2",
    "mat3x3",
    "mat4x4",
    "array",
    "atomic",
    "ptr",
    "sampler",
    "texture_2d",
    "self",
    "super",
    "static",
    "private",
    "storage",
    "uniform",
    "function",
    "workgroup",
    "handle",
];

/// A named data array of a WGSL target, as f32.
#[derive(Clone)]
pub struct DataArray {
    /// Name in the WGSL (its accessor's).
    pub name: String,
    /// Rows (the length of a 1-D array).
    pub rows: usize,
    /// Columns (1 for a 1-D array).
    pub cols: usize,
    /// Whether the file held a 1-D array (its accessor takes one index).
    pub one_d: bool,
    /// Row-major values.
    pub values: Arc<Vec<f32>>,
}

impl std::fmt::Debug for DataArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataArray({} [{}, {}])", self.name, self.rows, self.cols)
    }
}

/// The rows a WGSL target's minibatches walk through (`"rows"` in its file): the minibatch
/// of step s is the m rows `perm[(s·m + j) mod N]`, j < m, the walk of the built-in models
/// ([`crate::io::bayes::batch_begin`]), so that the same `seed` and N give the same rows.
#[derive(Clone, Debug)]
pub struct RowBatches {
    /// The data array whose rows they are.
    pub array: String,
    /// Its rows, N.
    pub rows: usize,
    /// The fixed permutation of `0..N` ([`crate::io::bayes::permutation`] of `seed`).
    pub perm: Arc<Vec<u32>>,
    /// Rows per minibatch, m (N, the full data, unless `--score-batch` says otherwise).
    pub batch: usize,
}

impl RowBatches {
    /// Where the minibatch of step `step` starts in the permutation.
    pub fn begin(&self, step: u64) -> usize {
        crate::io::bayes::batch_begin(step, self.batch, self.rows)
    }

    /// The rows of the minibatch of step `step`, in the order `batch_row(j)` gives them.
    pub fn batch_rows(&self, step: u64) -> Vec<usize> {
        crate::io::bayes::minibatch(&self.perm, self.batch, step)
            .map(|r| r as usize)
            .collect()
    }

    /// N / m, as `batch_scale()` gives it.
    pub fn scale(&self) -> f32 {
        (self.rows as f64 / self.batch as f64) as f32
    }
}

/// A target written in WGSL by the user, read and validated with naga (no device needed).
#[derive(Clone, Debug)]
pub struct WgslTarget {
    /// The target file, as errors name it.
    pub origin: String,
    /// The WGSL file (relative to the target file's directory when given relative).
    pub source_path: PathBuf,
    /// The user's WGSL.
    pub user_source: String,
    /// Dimension of the particles.
    pub dim: usize,
    /// Data arrays in name order.
    pub data: Vec<DataArray>,
    /// Constants `(name, value)` in name order, declared as `const name: f32`.
    pub constants: Vec<(String, f64)>,
    /// The rows minibatches walk through, when the file names them (`"rows"`); then
    /// `batch_size()`, `batch_row(j)` and `batch_scale()` are declared.
    pub batches: Option<RowBatches>,
    /// The module stein builds ([`assemble`]); validated by naga.
    pub module: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWgsl {
    #[allow(dead_code)]
    kind: String,
    source: String,
    dim: usize,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    constants: BTreeMap<String, f64>,
    rows: Option<String>,
    seed: Option<u64>,
}

const EXAMPLE: &str = r#"{"kind": "wgsl", "source": "banana.wgsl", "dim": 2, "data": {"X": "x.npy"}, "constants": {"b": 100.0}}"#;

impl WgslTarget {
    /// Parses a `"wgsl"` target's JSON, reads its source and data (paths relative to `base`)
    /// and validates the assembled module.
    pub fn from_json(
        s: &str,
        origin: &str,
        base: &Path,
        device_check: DeviceCheck,
    ) -> Result<Self> {
        let raw: RawWgsl = serde_json::from_str(s)
            .map_err(|e| anyhow!("{origin}: invalid wgsl target ({e}); write it like {EXAMPLE}"))?;
        ensure!(
            raw.dim >= 1 && raw.dim <= u32::MAX as usize,
            "{origin}: \"dim\" is {}; give the particles' dimension, at least 1",
            raw.dim
        );
        let source_path = base.join(&raw.source);
        let user_source = std::fs::read_to_string(&source_path).map_err(|e| {
            anyhow!(
                "{origin}: cannot read \"source\" {} ({e}); paths are relative to the target file",
                source_path.display()
            )
        })?;
        let mut names: Vec<String> = Vec::new();
        let mut constants = Vec::new();
        for (name, &v) in &raw.constants {
            check_name(origin, "constant", name, &names)?;
            ensure!(
                v.is_finite() && (v as f32).is_finite(),
                "{origin}: constant \"{name}\" is {v:e}, outside f32's range; rescale it"
            );
            names.push(name.clone());
            constants.push((name.clone(), v));
        }
        let mut data = Vec::new();
        let mut total: u64 = 0;
        for (name, file) in &raw.data {
            check_name(origin, "data array", name, &names)?;
            for derived in [format!("{name}_rows"), format!("{name}_cols")] {
                ensure!(
                    !names.contains(&derived),
                    "{origin}: constant \"{derived}\" collides with data array \"{name}\"'s shape constant; rename one"
                );
            }
            names.extend([name.clone(), format!("{name}_rows"), format!("{name}_cols")]);
            let array = read_data(origin, name, &base.join(file))?;
            total = total.saturating_add(4 * array.values.len() as u64);
            data.push(array);
        }
        ensure!(
            total / 4 <= u64::from(u32::MAX),
            "{origin}: the data arrays hold {} values, past 2^32; use less data",
            total / 4
        );
        device_check(&format!("{origin}: the data arrays"), total)?;
        let batches = match (&raw.rows, raw.seed) {
            (None, None) => None,
            (None, Some(_)) => bail!(
                "{origin}: \"seed\" orders the minibatches' rows, and the file names no \"rows\"; add \"rows\": \"<data array>\" or leave out \"seed\""
            ),
            (Some(name), seed) => {
                let a = data.iter().find(|a| &a.name == name).ok_or_else(|| {
                    let given: Vec<&str> = data.iter().map(|a| a.name.as_str()).collect();
                    anyhow!(
                        "{origin}: \"rows\" names \"{name}\", which is not a data array (given: [{}]); name the data array whose rows the minibatches walk",
                        given.join(", ")
                    )
                })?;
                device_check(&format!("{origin}: the rows' permutation"), 4 * a.rows as u64)?;
                let perm = crate::io::bayes::permutation(a.rows, seed.unwrap_or(0))
                    .into_iter()
                    .map(|r| r as u32)
                    .collect();
                Some(RowBatches {
                    array: name.clone(),
                    rows: a.rows,
                    perm: Arc::new(perm),
                    batch: a.rows,
                })
            }
        };
        let mut t = WgslTarget {
            origin: origin.to_string(),
            source_path,
            user_source,
            dim: raw.dim,
            data,
            constants,
            batches,
            module: String::new(),
        };
        t.module = assemble(&t)?;
        Ok(t)
    }

    /// The same target with minibatches of `m` rows for its score (`--score-batch`; `None`:
    /// the full data). The file must name its rows (`"rows"`).
    pub fn with_batch(mut self, m: Option<usize>) -> Result<Self> {
        match (&mut self.batches, m) {
            (_, None) => {}
            (Some(b), Some(m)) => {
                crate::io::bayes::check_batch(m, b.rows)?;
                b.batch = m;
            }
            (None, Some(_)) => bail!(
                "--score-batch needs the rows to batch: add \"rows\": \"<data array>\" to {} (docs/targets.md, minibatches), or leave out --score-batch",
                self.origin
            ),
        }
        Ok(self)
    }

    /// The data arrays packed one after the other, in name order (one zero when there are
    /// none: a binding is never empty).
    pub fn packed_data(&self) -> Vec<f32> {
        let mut out: Vec<f32> = self
            .data
            .iter()
            .flat_map(|a| a.values.iter().copied())
            .collect();
        if out.is_empty() {
            out.push(0.0);
        }
        out
    }
}

/// Checks a user-given name: a WGSL identifier, not a keyword, not stein's, not given twice.
fn check_name(origin: &str, what: &str, name: &str, taken: &[String]) -> Result<()> {
    let mut chars = name.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name != "_"
        && !name.starts_with("__");
    ensure!(
        ident,
        "{origin}: {what} name \"{name}\" is not a WGSL identifier; use letters, digits and _ (not first a digit)"
    );
    ensure!(
        !WGSL_WORDS.contains(&name),
        "{origin}: {what} name \"{name}\" is a WGSL keyword or type; rename it"
    );
    ensure!(
        !STEIN_NAMES.contains(&name) && !name.starts_with("stein_"),
        "{origin}: {what} name \"{name}\" is one stein declares (DIM, x, set_grad, add_grad, log_p, grad_log_p, batch_size, batch_row, batch_scale, stein_*); rename it"
    );
    ensure!(
        !taken.iter().any(|t| t == name),
        "{origin}: \"{name}\" names both a constant and a data array (or a shape constant); rename one"
    );
    Ok(())
}

/// Reads one data array: a 1-D or 2-D float `.npy`, finite, as f32.
fn read_data(origin: &str, name: &str, path: &Path) -> Result<DataArray> {
    let arr = read_npy(path).map_err(|e| anyhow!("{origin}: data array \"{name}\": {e}"))?;
    let p = path.display();
    let (rows, cols, one_d) = match arr.shape.as_slice() {
        &[n] => (n, 1, true),
        &[n, d] => (n, d, false),
        s => bail!(
            "{origin}: data array \"{name}\" ({p}) has shape {}; give a 1-D or 2-D array",
            format_shape(s)
        ),
    };
    ensure!(
        rows >= 1 && cols >= 1,
        "{origin}: data array \"{name}\" ({p}) is empty (shape {}); give at least one value",
        format_shape(&arr.shape)
    );
    ensure!(
        rows <= u32::MAX as usize && cols <= u32::MAX as usize,
        "{origin}: data array \"{name}\" ({p}) is too large for u32 indices"
    );
    let values: Vec<f32> = match arr.data {
        NpyData::F32(v) => v,
        NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
        NpyData::U8(_) => bail!(
            "{origin}: data array \"{name}\" ({p}) has dtype {}; save it as float32 or float64",
            Dtype::U8.name()
        ),
    };
    if let Some(j) = values.iter().position(|v| !v.is_finite()) {
        bail!(
            "{origin}: data array \"{name}\" ({p}) has a non-finite value at row {}, column {} (or past f32's range); clean the data",
            j / cols,
            j % cols
        );
    }
    Ok(DataArray {
        name: name.to_string(),
        rows,
        cols,
        one_d,
        values: Arc::new(values),
    })
}

/// A constant as a WGSL f32 literal that reads back as the same f32.
fn f32_literal(v: f64) -> String {
    let s = format!("{:?}", v as f32);
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// stein's declarations beside the user's code (everything but the entry points).
fn declarations(t: &WgslTarget) -> String {
    let d = t.dim;
    let mut s = String::new();
    s.push_str(&format!(
        "\n// ---- stein: the declarations of a WGSL target (docs/targets.md) ----\n\
struct SteinTargetParams {{ n: u32, after_steps: u32, unset: u32, batch_begin: u32, batch_size: u32, batch_scale: f32, _pad0: u32, _pad1: u32 }}\n\
override STEIN_WG: u32 = 64u;\n\
@group(0) @binding(0) var<uniform> stein_p: SteinTargetParams;\n\
@group(0) @binding(1) var<storage, read> stein_x: array<f32>;\n\
@group(0) @binding(2) var<storage, read> stein_data: array<f32>;\n\
@group(0) @binding(3) var<storage, read_write> stein_score: array<f32>;\n\
@group(0) @binding(4) var<storage, read_write> stein_log_p: array<f32>;\n\
@group(0) @binding(5) var<storage, read_write> stein_flag: array<atomic<u32>, 2>;\n\
@group(0) @binding(6) var<storage, read> stein_perm: array<u32>;\n\
var<private> stein_i: u32;\n\
var<private> stein_err: u32;\n\
const DIM: u32 = {d}u;\n\
fn stein_fail(kind: u32) {{\n\
    let s = stein_p.after_steps;\n\
    if atomicMin(&stein_flag[0], s) >= s {{\n\
        atomicMin(&stein_flag[1], min(stein_i, 0x1fffffffu) * 8u + kind);\n\
    }}\n\
}}\n\
fn stein_check(ok: bool, kind: u32) -> bool {{\n\
    stein_err |= select(1u << kind, 0u, ok);\n\
    return ok;\n\
}}\n\
fn x(i: u32, k: u32) -> f32 {{\n\
    let ok = stein_check((i < stein_p.n) & (k < DIM), {KIND_X_INDEX}u);\n\
    return select(0.0, stein_x[select(0u, i * DIM + k, ok)], ok);\n\
}}\n\
fn set_grad(i: u32, k: u32, v: f32) {{\n\
    if stein_check((i < stein_p.n) & (k < DIM), {KIND_GRAD_INDEX}u) {{ stein_score[i * DIM + k] = v; }}\n\
}}\n\
fn add_grad(i: u32, k: u32, v: f32) {{\n\
    if stein_check((i < stein_p.n) & (k < DIM), {KIND_GRAD_INDEX}u) {{\n\
        let old = stein_score[i * DIM + k];\n\
        stein_score[i * DIM + k] = select(old, 0.0, bitcast<u32>(old) == stein_p.unset) + v;\n\
    }}\n\
}}\n"
    ));
    if let Some(b) = &t.batches {
        let rows = b.rows;
        s.push_str(&format!(
            "fn batch_size() -> u32 {{ return stein_p.batch_size; }}\n\
fn batch_scale() -> f32 {{ return stein_p.batch_scale; }}\n\
fn batch_row(j: u32) -> u32 {{\n\
    let ok = stein_check(j < stein_p.batch_size, {KIND_BATCH_INDEX}u);\n\
    let left = {rows}u - stein_p.batch_begin;\n\
    return select(0u, stein_perm[select(0u, select(j - left, stein_p.batch_begin + j, j < left), ok)], ok);\n\
}}\n"
        ));
    }
    for (name, v) in &t.constants {
        s.push_str(&format!("const {name}: f32 = {};\n", f32_literal(*v)));
    }
    let mut offset = 0usize;
    for a in &t.data {
        let (name, rows, cols) = (&a.name, a.rows, a.cols);
        s.push_str(&format!(
            "const {name}_rows: u32 = {rows}u;\nconst {name}_cols: u32 = {cols}u;\n"
        ));
        if a.one_d {
            s.push_str(&format!(
                "fn {name}(r: u32) -> f32 {{\n    let ok = stein_check(r < {rows}u, {KIND_DATA_INDEX}u);\n    return select(0.0, stein_data[{offset}u + select(0u, r, ok)], ok);\n}}\n"
            ));
        } else {
            s.push_str(&format!(
                "fn {name}(r: u32, c: u32) -> f32 {{\n    let ok = stein_check((r < {rows}u) & (c < {cols}u), {KIND_DATA_INDEX}u);\n    return select(0.0, stein_data[{offset}u + select(0u, r * {cols}u + c, ok)], ok);\n}}\n"
            ));
        }
        offset += rows * cols;
    }
    s
}

/// stein's two entry points.
fn entry_points() -> String {
    format!(
        "@compute @workgroup_size(STEIN_WG)\n\
fn {SCORE_ENTRY}(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {{\n\
    let i = gid.x + gid.y * (nwg.x * STEIN_WG);\n\
    if i >= stein_p.n {{ return; }}\n\
    stein_i = i;\n\
    for (var k = 0u; k < DIM; k++) {{ stein_score[i * DIM + k] = bitcast<f32>(stein_p.unset); }}\n\
    grad_log_p(i);\n\
    for (var k = 0u; k < DIM; k++) {{\n\
        let b = bitcast<u32>(stein_score[i * DIM + k]);\n\
        stein_check(b != stein_p.unset, {KIND_UNSET}u);\n\
        stein_check((b & 0x7f800000u) != 0x7f800000u, {KIND_NONFINITE}u);\n\
    }}\n\
    if stein_err != 0u {{ stein_fail(firstTrailingBit(stein_err)); }}\n\
}}\n\
@compute @workgroup_size(STEIN_WG)\n\
fn {LOG_P_ENTRY}(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {{\n\
    let i = gid.x + gid.y * (nwg.x * STEIN_WG);\n\
    if i >= stein_p.n {{ return; }}\n\
    stein_i = i;\n\
    stein_log_p[i] = log_p(i);\n\
    if stein_err != 0u {{ stein_fail(firstTrailingBit(stein_err)); }}\n\
}}\n"
    )
}

/// Where a span lies in the user's file: `path:line:column`, or `None` outside it.
fn user_location(full: &str, user_len: usize, span: naga::Span) -> Option<(u32, u32)> {
    let r = span.to_range()?;
    (r.start < user_len).then(|| {
        let l = span.location(full);
        (l.line_number, l.line_position)
    })
}

/// One line: newlines and runs of spaces folded.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds the module of `t` and validates it with naga: the user's code first, then stein's
/// declarations and entry points. A mistake is reported at the user's line and column.
pub fn assemble(t: &WgslTarget) -> Result<String> {
    let path = t.source_path.display().to_string();
    let user = &t.user_source;
    let names = || {
        let data: Vec<&str> = t.data.iter().map(|a| a.name.as_str()).collect();
        let consts: Vec<&str> = t.constants.iter().map(|c| c.0.as_str()).collect();
        format!(
            "data arrays given in {}: [{}]; constants: [{}]",
            t.origin,
            data.join(", "),
            consts.join(", ")
        )
    };
    let parse = |src: &str| -> Result<naga::Module> {
        naga::front::wgsl::parse_str(src).map_err(|e| {
            let at = e
                .labels()
                .find_map(|(span, _)| user_location(src, user.len(), span));
            let msg = one_line(e.message());
            let hint = if msg.contains("no definition in scope") {
                let batch = if t.batches.is_none() && msg.contains("`batch_") {
                    "; batch_size, batch_row and batch_scale exist when the target file names the rows minibatches walk (\"rows\": \"<data array>\")"
                } else {
                    ""
                };
                format!("; {}{batch}", names())
            } else {
                String::new()
            };
            match at {
                Some((l, c)) => anyhow!("{path}:{l}:{c}: {msg}{hint}"),
                None => anyhow!(
                    "{path}: {msg} (against the names stein declares: DIM, x, set_grad, add_grad, stein_*, the constants and data arrays; docs/targets.md){hint}"
                ),
            }
        })
    };
    // The user's code with stein's declarations, without the entry points: its own mistakes
    // first, then whether it defines the two functions.
    let decls = format!("{user}\n{}", declarations(t));
    let m = parse(&decls)?;
    check_user_module(&m, &path)?;
    let full = format!("{decls}{}", entry_points());
    let m = parse(&full)?;
    let mut v = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    );
    if let Err(e) = v.validate(&m) {
        let mut msg = e.as_inner().to_string();
        let mut src = std::error::Error::source(e.as_inner());
        while let Some(inner) = src {
            msg.push_str(": ");
            msg.push_str(&inner.to_string());
            src = inner.source();
        }
        let at = e
            .spans()
            .filter_map(|(span, _)| {
                let len = span.to_range()?.len();
                user_location(&full, user.len(), *span).map(|lc| (len, lc))
            })
            .min();
        let msg = one_line(&msg);
        return Err(match at {
            Some((_, (l, c))) => anyhow!("{path}:{l}:{c}: {msg}"),
            None => anyhow!("{path}: {msg}"),
        });
    }
    Ok(full)
}

/// The user's module defines `fn log_p(i: u32) -> f32` and `fn grad_log_p(i: u32)`, and no
/// bindings or entry points of its own.
fn check_user_module(m: &naga::Module, path: &str) -> Result<()> {
    use naga::{Scalar, TypeInner};
    let scalar = |ty: naga::Handle<naga::Type>| match m.types[ty].inner {
        TypeInner::Scalar(s) => Some(s),
        _ => None,
    };
    let find = |name: &str| {
        m.functions
            .iter()
            .find(|(_, f)| f.name.as_deref() == Some(name))
    };
    let signature =
        "a WGSL target defines fn log_p(i: u32) -> f32 and fn grad_log_p(i: u32) (docs/targets.md)";
    let one_u32 = |f: &naga::Function| {
        f.arguments.len() == 1 && scalar(f.arguments[0].ty) == Some(Scalar::U32)
    };
    match find("log_p") {
        Some((_, f))
            if one_u32(f) && f.result.as_ref().and_then(|r| scalar(r.ty)) == Some(Scalar::F32) => {}
        Some(_) => bail!("{path}: log_p has the wrong signature; {signature}"),
        None => bail!("{path}: defines no log_p; {signature}"),
    }
    match find("grad_log_p") {
        Some((_, f)) if one_u32(f) && f.result.is_none() => {}
        Some(_) => bail!("{path}: grad_log_p has the wrong signature; {signature}"),
        None => bail!("{path}: defines no grad_log_p; {signature}"),
    }
    if let Some(e) = m.entry_points.first() {
        bail!(
            "{path}: declares the entry point `{}`; a target defines log_p and grad_log_p only, stein adds the kernels",
            e.name
        );
    }
    if let Some((_, g)) = m.global_variables.iter().find(|(_, g)| {
        g.binding.is_some() && !g.name.as_deref().unwrap_or("").starts_with("stein_")
    }) {
        bail!(
            "{path}: declares the binding `{}`; stein binds the particles and the data itself (read them with x(i, k) and the data arrays' accessors)",
            g.name.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

/// The uniform of both entry points (`SteinTargetParams`).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct TargetParams {
    n: u32,
    after_steps: u32,
    unset: u32,
    batch_begin: u32,
    batch_size: u32,
    batch_scale: f32,
    _pad: [u32; 2],
}

/// The minibatch a dispatch reads: (first position in the permutation, rows, N/m).
type Batch = (u32, u32, f32);

/// A WGSL target's pipelines and device buffers (data, flag, permutation).
pub struct WgslKernels {
    target: WgslTarget,
    score: Kernel,
    log_p: OnceLock<Kernel>,
    data: GpuVec<f32>,
    /// The rows' permutation (one 0 without `"rows"`: a binding is never empty).
    perm: GpuVec<u32>,
    /// `[first step, lowest particle · 8 + kind]`, `u32::MAX` while clean.
    flag: GpuVec<u32>,
    /// What the score kernel binds for the log-densities it does not write.
    placeholder: GpuVec<f32>,
}

impl WgslKernels {
    /// Uploads the data and builds the score pipeline.
    pub fn new(ctx: &GpuContext, target: &WgslTarget) -> Result<Self> {
        let score =
            Kernel::from_source(ctx, SCORE_ENTRY, &target.module, BINDINGS, ("STEIN_WG", WG))
                .with_context(|| target.source_path.display().to_string())?;
        Ok(Self {
            target: target.clone(),
            score,
            log_p: OnceLock::new(),
            data: GpuVec::from_slice(ctx, "wgsl target data", &target.packed_data())?,
            perm: match &target.batches {
                Some(b) => GpuVec::from_slice(ctx, "wgsl target rows", &b.perm)?,
                None => GpuVec::zeros(ctx, "wgsl target rows placeholder", 1)?,
            },
            flag: GpuVec::from_slice(ctx, "wgsl target flag", &[u32::MAX; 2])?,
            placeholder: GpuVec::zeros(ctx, "wgsl target log p placeholder", 1)?,
        })
    }

    /// The target.
    pub fn target(&self) -> &WgslTarget {
        &self.target
    }

    /// Bytes of device memory held (data, flag and permutation).
    pub fn device_bytes(&self) -> u64 {
        self.data.bytes() + self.flag.bytes() + self.perm.bytes() + 4
    }

    /// The minibatch of step `steps` (the full data without minibatches, or with `None`).
    fn batch(&self, steps: Option<u64>) -> Batch {
        match &self.target.batches {
            None => (0, 0, 1.0),
            Some(b) => match steps {
                Some(s) => (b.begin(s) as u32, b.batch as u32, b.scale()),
                None => (0, b.rows as u32, 1.0),
            },
        }
    }

    /// Records `score = ∇ log p(x)` for the first `n` rows of `x` at the particles that have
    /// taken `steps` steps: the flag names that step, and the user's `batch_row(j)` reads the
    /// minibatch of that step.
    pub fn record_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
        steps: u64,
    ) -> Result<()> {
        let d = self.target.dim;
        super::check_nd(SCORE_ENTRY, n, d, &[x, score])?;
        // The flag keeps the first step as a u32; u32::MAX means "clean".
        let after_steps = steps.min(u64::from(u32::MAX - 1)) as u32;
        self.dispatch(
            ctx,
            enc,
            &self.score,
            [x, score, &self.placeholder],
            n,
            (after_steps, self.batch(Some(steps))),
        )
    }

    fn dispatch(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        kernel: &Kernel,
        [x, score, log_p]: [&GpuVec<f32>; 3],
        n: usize,
        (after_steps, (batch_begin, batch_size, batch_scale)): (u32, Batch),
    ) -> Result<()> {
        let params = enc.uniform(
            ctx,
            &TargetParams {
                n: u32::try_from(n).context("wgsl target: more than 2^32 particles")?,
                after_steps,
                unset: UNSET,
                batch_begin,
                batch_size,
                batch_scale,
                _pad: [0; 2],
            },
        );
        let g = kernel.groups_for(ctx, n)?;
        let buffers = [
            &x.buffer,
            &self.data.buffer,
            &score.buffer,
            &log_p.buffer,
            &self.flag.buffer,
            &self.perm.buffer,
        ];
        kernel.record_with(ctx, enc, &params, &buffers, g)
    }

    /// log p at each row of `x` (`[rows, d]`, row-major), read back, on the full data (the
    /// user's `batch_row(j)` walks all N rows, `batch_scale()` is 1). One submit; the
    /// pipeline is built on first use.
    pub fn log_p(&self, ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>> {
        let d = self.target.dim;
        let rows = x.len() / d;
        ensure!(
            rows >= 1 && x.len() == rows * d,
            "log_p: {} values are not rows of d = {d}",
            x.len()
        );
        let kernel = match self.log_p.get() {
            Some(k) => k,
            None => {
                let k = Kernel::from_source(
                    ctx,
                    LOG_P_ENTRY,
                    &self.target.module,
                    BINDINGS,
                    ("STEIN_WG", WG),
                )
                .with_context(|| self.target.source_path.display().to_string())?;
                let _ = self.log_p.set(k);
                self.log_p.get().expect("just set")
            }
        };
        let xs = GpuVec::from_slice(ctx, "wgsl target log p rows", x)?;
        let scratch = GpuVec::zeros(ctx, "wgsl target log p score", rows * d)?;
        let out = GpuVec::nan_filled(ctx, "wgsl target log p", rows)?;
        let mut enc = Recorder::new(ctx);
        let full = self.batch(None);
        self.dispatch(
            ctx,
            &mut enc,
            kernel,
            [&xs, &scratch, &out],
            rows,
            (0, full),
        )?;
        enc.submit(ctx);
        let v = out.read(ctx)?;
        self.check(ctx, "log_p")?;
        Ok(v)
    }

    /// Fails, naming the first step and particle, when the flag says an evaluation went
    /// wrong (`what`: the function the message names for a non-finite value). Reads back 8
    /// bytes.
    pub fn check(&self, ctx: &GpuContext, what: &str) -> Result<()> {
        let f = self.flag.read(ctx)?;
        if f[0] == u32::MAX {
            return Ok(());
        }
        let (steps, particle, kind) = (f[0], f[1] / 8, f[1] % 8);
        let (src, origin, d) = (
            self.target.source_path.display(),
            &self.target.origin,
            self.target.dim,
        );
        let at = format!("at particle {particle} after {steps} steps");
        bail!(match kind {
            KIND_X_INDEX => format!("{src}: x(i, k) was read with k >= dim = {d} (or i past the particles) {at}; the code models another dimension than \"dim\": {d} in {origin}, fix one"),
            KIND_GRAD_INDEX => format!("{src}: set_grad/add_grad wrote coordinate k >= dim = {d} (or i past the particles) {at}; the code models another dimension than \"dim\": {d} in {origin}, fix one"),
            KIND_DATA_INDEX => format!("{src}: a data array was read past its <name>_rows or <name>_cols {at}; check the loops over the data"),
            KIND_BATCH_INDEX => format!("{src}: batch_row(j) was called with j >= batch_size() {at}; loop j from 0 to batch_size()"),
            KIND_UNSET => format!("{src}: grad_log_p left a coordinate unset {at}; \"dim\" is {d} in {origin}: set all {d} coordinates with set_grad or add_grad, or fix \"dim\""),
            _ => format!("{src}: {what} returned NaN or inf {at} (the first non-finite score); check the target there (stein check-target), or lower --step-size"),
        });
    }

    /// Clears the flag (for a caller that reported it and goes on).
    pub fn clear(&self, ctx: &GpuContext) -> Result<()> {
        self.flag.write(ctx, &[u32::MAX; 2])
    }
}
