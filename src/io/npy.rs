//! NumPy `.npy` arrays, read and written by hand rather than with `npyz` (0.9): its reader
//! allocates the header length a file declares before reading it (4 GiB asked by a 20-byte
//! file), takes some 590 times a header's size in memory to parse it, and refuses the
//! `(3L, 2L)` and `u'<f4'` headers of Python 2's NumPy; its writer writes shapes as
//! `(3, 2, )` where NumPy writes `(3, 2)`.
//!
//! This module reads format versions 1.0, 2.0 and 3.0 and writes version 1.0 exactly as
//! `np.save` does. Headers longer than NumPy reads (10 000 bytes) are refused before anything
//! is allocated for them, shapes are multiplied with overflow checks (`npyz` multiplies
//! unchecked: a shape of (2^62, 4) reports 0 elements), and the data's length is checked
//! against the shape before it is decoded.
//!
//! Supported element types are little-endian `float32` (`'<f4'`), little-endian
//! `float64` (`'<f8'`) and `uint8` (`'|u1'`, also accepted as `'<u1'`). Arrays
//! must be stored in C (row-major) order.
//!
//! The format is described at
//! <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.

use std::path::Path;

use anyhow::{anyhow, bail};

use super::write_atomic;

/// The magic string that starts every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Header alignment used by NumPy: magic, version, length and header together
/// are a multiple of this many bytes.
const ALIGN: usize = 64;

/// The longest header read, NumPy's own limit (`max_header_size` of `np.load`): a plain
/// array's header is under 200 bytes, and parsing one takes some 30 times its length.
const MAX_HEADER_LEN: usize = 10_000;

/// Element type of an `.npy` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// Little-endian 32-bit float, NumPy `'<f4'` (`np.float32`).
    F32,
    /// Little-endian 64-bit float, NumPy `'<f8'` (`np.float64`).
    F64,
    /// Unsigned byte, NumPy `'|u1'` (`np.uint8`).
    U8,
}

impl Dtype {
    /// Size of one element in bytes.
    pub fn item_size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::U8 => 1,
        }
    }

    /// The NumPy name of the type, such as `"float32"`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::U8 => "uint8",
        }
    }

    /// The `descr` string written in `.npy` headers, such as `"<f4"`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::U8 => "|u1",
        }
    }

    /// Parses a header `descr` string; `None` when unsupported.
    fn from_descr(descr: &str) -> Option<Dtype> {
        match descr {
            "<f4" => Some(Dtype::F32),
            "<f8" => Some(Dtype::F64),
            "|u1" | "<u1" => Some(Dtype::U8),
            _ => None,
        }
    }
}

/// The elements of an `.npy` array, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `float32` elements.
    F32(Vec<f32>),
    /// `float64` elements.
    F64(Vec<f64>),
    /// `uint8` elements.
    U8(Vec<u8>),
}

/// An array read from an `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The array's shape; empty for a 0-d (scalar) array.
    pub shape: Vec<usize>,
    /// The element type; always matches the variant of `data`.
    pub dtype: Dtype,
    /// The elements in C (row-major) order; their count is the product of `shape`.
    pub data: NpyData,
}

/// Formats a shape the way Python prints a tuple: `()`, `(3,)`, `(3, 2)`.
pub fn format_shape(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|n| n.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Reads an `.npy` file (format version 1.0, 2.0 or 3.0).
///
/// Errors name the file and say what is wrong: not an `.npy` file, an
/// unsupported dtype, Fortran order, or a truncated file.
pub fn read_npy(path: &Path) -> anyhow::Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| {
        anyhow!(
            "{}: cannot read file ({}); check the path",
            path.display(),
            e
        )
    })?;
    decode_npy(&bytes).map_err(|e| anyhow!("{}: {}", path.display(), e))
}

/// Decodes the bytes of an `.npy` file held in memory.
///
/// Error messages do not name a file; [`read_npy`] adds the path.
pub fn decode_npy(bytes: &[u8]) -> anyhow::Result<NpyArray> {
    if bytes.len() < 8 || &bytes[..6] != MAGIC {
        bail!(
            "not a NumPy .npy file (it does not start with \\x93NUMPY); save arrays with np.save"
        );
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_size, utf8) = match (major, minor) {
        (1, 0) => (2, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        _ => bail!(
            "unsupported .npy format version {major}.{minor}; supported versions are 1.0, 2.0 and 3.0, save with np.save"
        ),
    };
    let prefix = 8 + len_size;
    if bytes.len() < prefix {
        bail!(
            "truncated header: the file has only {} bytes; the file is incomplete, save it again",
            bytes.len()
        );
    }
    let header_len = if len_size == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    if header_len > MAX_HEADER_LEN {
        bail!(
            "header of {header_len} bytes is longer than NumPy reads ({MAX_HEADER_LEN}); the file is corrupt or was not written by np.save"
        );
    }
    let header_end = prefix
        .checked_add(header_len)
        .ok_or_else(|| anyhow!("header length {header_len} is too large; the file is corrupt"))?;
    if bytes.len() < header_end {
        bail!(
            "truncated header: it declares {} bytes but only {} follow; the file is incomplete, save it again",
            header_len,
            bytes.len() - prefix
        );
    }
    let raw_header = &bytes[prefix..header_end];
    let header: String = if utf8 {
        std::str::from_utf8(raw_header)
            .map_err(|_| anyhow!("header is not valid UTF-8; the file is corrupt, save it again"))?
            .to_string()
    } else {
        // latin-1: every byte is one code point
        raw_header.iter().map(|&b| b as char).collect()
    };
    let (dtype, fortran_order, shape) = parse_header(&header)?;
    if fortran_order {
        bail!(
            "array is stored in Fortran (column-major) order; save a C-ordered array: np.save(path, np.ascontiguousarray(x))"
        );
    }

    let count = shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| {
            anyhow!(
                "shape {} is too large; the file is corrupt",
                format_shape(&shape)
            )
        })?;
    let expected = count.checked_mul(dtype.item_size()).ok_or_else(|| {
        anyhow!(
            "shape {} is too large; the file is corrupt",
            format_shape(&shape)
        )
    })?;
    let body = &bytes[header_end..];
    if body.len() < expected {
        bail!(
            "truncated data: shape {} of {} needs {} bytes but the file holds {}; the file is incomplete, save it again",
            format_shape(&shape),
            dtype.name(),
            expected,
            body.len()
        );
    }
    if body.len() > expected {
        bail!(
            "data size mismatch: shape {} of {} needs {} bytes but the file holds {} ({} extra); the header does not match the data, save it again with np.save",
            format_shape(&shape),
            dtype.name(),
            expected,
            body.len(),
            body.len() - expected
        );
    }

    let data = match dtype {
        Dtype::F32 => NpyData::F32(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::F64 => NpyData::F64(
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        Dtype::U8 => NpyData::U8(body.to_vec()),
    };
    Ok(NpyArray { shape, dtype, data })
}

/// Reads a 2-D `float32` or `float64` array as row-major `f32` data.
///
/// Returns `(data, n, d)` where the array has shape `(n, d)`. `what` names the
/// input in messages (for example `"particles"`). Rejects `uint8` arrays, arrays
/// that are not 2-D, empty arrays, NaN or infinite values (naming the first bad
/// row and column, counted from 0) and `float64` values outside the `float32`
/// range.
pub fn read_matrix_f32(path: &Path, what: &str) -> anyhow::Result<(Vec<f32>, usize, usize)> {
    let bytes = std::fs::read(path).map_err(|e| {
        anyhow!(
            "{}: cannot read file ({}); check the path",
            path.display(),
            e
        )
    })?;
    decode_matrix_f32(&bytes, &path.display().to_string(), what)
}

/// [`read_matrix_f32`] on a file's bytes; `origin` (the file's name) starts every message.
pub fn decode_matrix_f32(
    bytes: &[u8],
    origin: &str,
    what: &str,
) -> anyhow::Result<(Vec<f32>, usize, usize)> {
    let p = origin;
    let arr = decode_npy(bytes).map_err(|e| anyhow!("{p}: {e}"))?;
    if arr.dtype == Dtype::U8 {
        bail!(
            "{p}: {what} has dtype uint8 but this input takes float arrays; convert with x.astype(np.float32)"
        );
    }
    let (n, d) = match arr.shape.as_slice() {
        &[n, d] => (n, d),
        &[n] => bail!(
            "{p}: {what} must be a 2-D array of shape (n, d) but has shape ({n},); for one-dimensional data save x.reshape(-1, 1)"
        ),
        shape => bail!(
            "{p}: {what} must be a 2-D array of shape (n, d) but has shape {}; save a 2-D array",
            format_shape(shape)
        ),
    };
    if n == 0 {
        bail!("{p}: {what} has no rows (shape ({n}, {d})); provide at least one row");
    }
    if d == 0 {
        bail!("{p}: {what} has no columns (shape ({n}, {d})); provide at least one column");
    }
    let bad_value = |i: usize, v: f64| {
        let kind = if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        };
        anyhow!(
            "{p}: {what} has a non-finite value ({kind}) at row {}, column {}; remove or replace non-finite values",
            i / d,
            i % d
        )
    };
    let data = match arr.data {
        NpyData::F32(v) => {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(bad_value(i, v[i] as f64));
            }
            v
        }
        NpyData::F64(v) => {
            let mut out = Vec::with_capacity(v.len());
            for (i, &x) in v.iter().enumerate() {
                if !x.is_finite() {
                    return Err(bad_value(i, x));
                }
                if x.abs() > f32::MAX as f64 {
                    bail!(
                        "{p}: {what} value {x:e} at row {}, column {} is outside the float32 range (about ±3.4e38); rescale the data",
                        i / d,
                        i % d
                    );
                }
                out.push(x as f32);
            }
            out
        }
        NpyData::U8(_) => bail!("{p}: {what} has dtype uint8 but this input takes float arrays; convert with x.astype(np.float32)"),
    };
    Ok((data, n, d))
}

/// Builds the complete `.npy` header (magic, version, length and padded dict)
/// for `descr` and `shape`. Uses format 1.0 unless the header is too long for it.
fn encode_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        descr,
        format_shape(shape)
    );
    let build = |len_size: usize, version: u8| -> Vec<u8> {
        let prefix = 8 + len_size;
        let unpadded = prefix + dict.len() + 1; // + '\n'
        let pad = (ALIGN - unpadded % ALIGN) % ALIGN;
        let header_len = dict.len() + pad + 1;
        let mut out = Vec::with_capacity(prefix + header_len);
        out.extend_from_slice(MAGIC);
        out.push(version);
        out.push(0);
        if len_size == 2 {
            out.extend_from_slice(&(header_len as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header_len as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.extend(std::iter::repeat_n(b' ', pad));
        out.push(b'\n');
        out
    };
    if dict.len() + 1 + ALIGN <= u16::MAX as usize {
        build(2, 1)
    } else {
        build(4, 2)
    }
}

/// Number of elements for `shape`, `None` on overflow.
fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n))
}

/// Encodes `data` with the given `shape` as an `.npy` file (format 1.0,
/// dtype `'<f4'`, C order).
///
/// # Panics
///
/// Panics if `data.len()` is not the product of `shape`; [`write_npy_f32`]
/// checks this and returns an error instead.
pub fn encode_npy_f32(data: &[f32], shape: &[usize]) -> Vec<u8> {
    assert_eq!(
        element_count(shape),
        Some(data.len()),
        "encode_npy_f32: data length does not match shape"
    );
    let mut out = encode_header(Dtype::F32.descr(), shape);
    out.reserve(data.len() * 4);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Encodes `data` with the given `shape` as an `.npy` file (format 1.0,
/// dtype `'<f8'`, C order).
///
/// # Panics
///
/// Panics if `data.len()` is not the product of `shape`; [`write_npy_f64`]
/// checks this and returns an error instead.
pub fn encode_npy_f64(data: &[f64], shape: &[usize]) -> Vec<u8> {
    assert_eq!(
        element_count(shape),
        Some(data.len()),
        "encode_npy_f64: data length does not match shape"
    );
    let mut out = encode_header(Dtype::F64.descr(), shape);
    out.reserve(data.len() * 8);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Checks that `len` values fill `shape` before writing `path`.
fn check_len(path: &Path, len: usize, shape: &[usize]) -> anyhow::Result<()> {
    match element_count(shape) {
        Some(n) if n == len => Ok(()),
        Some(n) => bail!(
            "{}: cannot write {} values as shape {} which holds {}; pass a shape whose product is the number of values",
            path.display(),
            len,
            format_shape(shape),
            n
        ),
        None => bail!(
            "{}: shape {} is too large; pass a shape whose product is the number of values",
            path.display(),
            format_shape(shape)
        ),
    }
}

/// Writes `data` with the given `shape` to `path` as a `float32` `.npy` file,
/// atomically (see [`write_atomic`]).
pub fn write_npy_f32(path: &Path, data: &[f32], shape: &[usize]) -> anyhow::Result<()> {
    check_len(path, data.len(), shape)?;
    write_atomic(path, &encode_npy_f32(data, shape))
}

/// Writes `data` with the given `shape` to `path` as a `float64` `.npy` file,
/// atomically (see [`write_atomic`]).
pub fn write_npy_f64(path: &Path, data: &[f64], shape: &[usize]) -> anyhow::Result<()> {
    check_len(path, data.len(), shape)?;
    write_atomic(path, &encode_npy_f64(data, shape))
}

// ---------------------------------------------------------------------------
// Header parsing: a small parser for the Python literal subset NumPy writes.

/// A Python literal value.
#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    None,
    Int(i64),
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

impl Lit {
    fn kind(&self) -> &'static str {
        match self {
            Lit::Str(_) => "a string",
            Lit::Bool(_) => "a boolean",
            Lit::None => "None",
            Lit::Int(_) => "an integer",
            Lit::Tuple(_) => "a tuple",
            Lit::List(_) => "a list",
            Lit::Dict(_) => "a dict",
        }
    }
}

/// Recursive-descent parser over the header's characters.
struct LitParser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl LitParser {
    fn err<T>(&self, what: &str) -> anyhow::Result<T> {
        bail!(
            "malformed header ({what} at character {}); the file is not a valid .npy file, save it again with np.save",
            self.pos
        )
    }

    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn value(&mut self) -> anyhow::Result<Lit> {
        self.depth += 1;
        if self.depth > 32 {
            return self.err("nesting too deep");
        }
        let v = match self.peek() {
            None => self.err("unexpected end"),
            Some('{') => self.dict(),
            Some('(') => {
                self.pos += 1;
                let (items, trailing_comma) = self.seq(')')?;
                if items.len() == 1 && !trailing_comma {
                    // (x) is just x in Python
                    Ok(items.into_iter().next().unwrap_or(Lit::None))
                } else {
                    Ok(Lit::Tuple(items))
                }
            }
            Some('[') => {
                self.pos += 1;
                Ok(Lit::List(self.seq(']')?.0))
            }
            Some(c) if c == '\'' || c == '"' => self.string(),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.int(),
            Some(c) if c.is_alphabetic() || c == '_' => self.ident(),
            Some(c) => self.err(&format!("unexpected {c:?}")),
        };
        self.depth -= 1;
        v
    }

    /// Parses comma-separated values up to `close` (the opening bracket is
    /// consumed). Returns the items and whether a trailing comma was present.
    fn seq(&mut self, close: char) -> anyhow::Result<(Vec<Lit>, bool)> {
        let mut items = Vec::new();
        let mut trailing = false;
        loop {
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, trailing));
            }
            items.push(self.value()?);
            trailing = false;
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    trailing = true;
                }
                Some(c) if c == close => {}
                _ => return self.err(&format!("expected ',' or '{close}'")),
            }
        }
    }

    fn dict(&mut self) -> anyhow::Result<Lit> {
        self.pos += 1; // '{'
        let mut entries = Vec::new();
        loop {
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Lit::Dict(entries));
            }
            let key = self.value()?;
            if self.peek() != Some(':') {
                return self.err("expected ':'");
            }
            self.pos += 1;
            let val = self.value()?;
            entries.push((key, val));
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return self.err("expected ',' or '}'"),
            }
        }
    }

    fn string(&mut self) -> anyhow::Result<Lit> {
        let quote = self.chars[self.pos];
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.chars.get(self.pos).copied() {
                None => return self.err("unterminated string"),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(Lit::Str(s));
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.chars.get(self.pos).copied() {
                        None => return self.err("unterminated string"),
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(c) => s.push(c),
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn int(&mut self) -> anyhow::Result<Lit> {
        let start = self.pos;
        if matches!(self.chars[self.pos], '-' | '+') {
            self.pos += 1;
        }
        while self.pos < self.chars.len() && self.chars[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        // Python 2 NumPy wrote long integers as 3L
        if self.pos < self.chars.len() && matches!(self.chars[self.pos], 'L' | 'l') {
            self.pos += 1;
        }
        match text.parse::<i64>() {
            Ok(v) => Ok(Lit::Int(v)),
            Err(_) => {
                self.pos = start;
                self.err(&format!("bad integer {text:?}"))
            }
        }
    }

    fn ident(&mut self) -> anyhow::Result<Lit> {
        let start = self.pos;
        while self.pos < self.chars.len()
            && (self.chars[self.pos].is_alphanumeric() || self.chars[self.pos] == '_')
        {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "True" => Ok(Lit::Bool(true)),
            "False" => Ok(Lit::Bool(false)),
            "None" => Ok(Lit::None),
            // string prefixes such as u'<f4' (Python 2) or b'<f4'
            "u" | "b" | "U" | "B" if matches!(self.chars.get(self.pos), Some('\'' | '"')) => {
                self.string()
            }
            _ => {
                self.pos = start;
                self.err(&format!("unexpected name {word:?}"))
            }
        }
    }
}

/// Parses the header dict into (dtype, fortran_order, shape).
fn parse_header(header: &str) -> anyhow::Result<(Dtype, bool, Vec<usize>)> {
    let mut parser = LitParser {
        chars: header.chars().collect(),
        pos: 0,
        depth: 0,
    };
    let value = parser.value()?;
    if parser.peek().is_some() {
        return parser.err("unexpected text after the header dict");
    }
    let Lit::Dict(entries) = value else {
        bail!(
            "malformed header (it is {}, not a dict); the file is not a valid .npy file, save it again with np.save",
            value.kind()
        );
    };
    let get = |key: &str| -> anyhow::Result<&Lit> {
        entries
            .iter()
            .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
            .map(|(_, v)| v)
            .ok_or_else(|| {
                anyhow!("malformed header (no '{key}' key); the file is not a valid .npy file, save it again with np.save")
            })
    };

    let dtype = match get("descr")? {
        Lit::Str(descr) => Dtype::from_descr(descr).ok_or_else(|| {
            anyhow!(
                "unsupported dtype '{descr}'; supported dtypes are '<f4' (float32), '<f8' (float64) and '|u1' (uint8), convert with x.astype(np.float32)"
            )
        })?,
        Lit::List(_) => bail!(
            "unsupported structured dtype (record array); supported dtypes are '<f4' (float32), '<f8' (float64) and '|u1' (uint8), save a plain array such as x.astype(np.float32)"
        ),
        other => bail!(
            "malformed header ('descr' is {}, not a string); the file is not a valid .npy file, save it again with np.save",
            other.kind()
        ),
    };
    let fortran_order = match get("fortran_order")? {
        Lit::Bool(b) => *b,
        other => bail!(
            "malformed header ('fortran_order' is {}, not True or False); the file is not a valid .npy file, save it again with np.save",
            other.kind()
        ),
    };
    let shape = match get("shape")? {
        Lit::Tuple(items) => {
            let mut shape = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Lit::Int(n) if *n >= 0 => shape.push(usize::try_from(*n).map_err(|_| {
                        anyhow!("shape dimension {n} is too large for this machine; the file is corrupt")
                    })?),
                    Lit::Int(n) => bail!(
                        "malformed header (negative dimension {n} in 'shape'); the file is not a valid .npy file, save it again with np.save"
                    ),
                    other => bail!(
                        "malformed header ('shape' holds {}, not an integer); the file is not a valid .npy file, save it again with np.save",
                        other.kind()
                    ),
                }
            }
            shape
        }
        other => bail!(
            "malformed header ('shape' is {}, not a tuple); the file is not a valid .npy file, save it again with np.save",
            other.kind()
        ),
    };
    Ok((dtype, fortran_order, shape))
}

/// Builds a header by hand for tests (kept out of non-test builds).
#[cfg(test)]
fn raw_npy(version: u8, dict: &str, body: &[u8]) -> Vec<u8> {
    let len_size = if version == 1 { 2 } else { 4 };
    let prefix = 8 + len_size;
    let mut header = dict.to_string();
    while !(prefix + header.len() + 1).is_multiple_of(ALIGN) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.push(version);
    out.push(0);
    if len_size == 2 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn write_bytes(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn header_is_aligned_and_numpy_shaped() {
        for shape in [vec![], vec![7], vec![3, 2], vec![2, 3, 4]] {
            let n = element_count(&shape).unwrap();
            let bytes = encode_npy_f32(&vec![0.5; n], &shape);
            let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0);
            assert_eq!(bytes[10 + hlen - 1], b'\n');
            assert_eq!(bytes.len(), 10 + hlen + 4 * n);
            let text = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
            assert!(text.starts_with(&format!(
                "{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}",
                format_shape(&shape)
            )));
        }
    }

    #[test]
    fn round_trip_f32() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
        write_npy_f32(&p, &data, &[4, 3]).unwrap();
        let arr = read_npy(&p).unwrap();
        assert_eq!(arr.shape, vec![4, 3]);
        assert_eq!(arr.dtype, Dtype::F32);
        assert_eq!(arr.data, NpyData::F32(data.clone()));
        let (m, n, d) = read_matrix_f32(&p, "particles").unwrap();
        assert_eq!((n, d), (4, 3));
        assert_eq!(m, data);
    }

    #[test]
    fn round_trip_f64() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.npy");
        let data: Vec<f64> = (0..10).map(|i| (i as f64).sqrt() * 1e-3).collect();
        write_npy_f64(&p, &data, &[5, 2]).unwrap();
        let arr = read_npy(&p).unwrap();
        assert_eq!(arr.shape, vec![5, 2]);
        assert_eq!(arr.dtype, Dtype::F64);
        assert_eq!(arr.data, NpyData::F64(data.clone()));
        let (m, n, d) = read_matrix_f32(&p, "particles").unwrap();
        assert_eq!((n, d), (5, 2));
        let expect: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        assert_eq!(m, expect);
    }

    #[test]
    fn zero_d_and_empty_round_trip() {
        let a = decode_npy(&encode_npy_f64(&[2.5], &[])).unwrap();
        assert_eq!(a.shape, Vec::<usize>::new());
        assert_eq!(a.data, NpyData::F64(vec![2.5]));
        let b = decode_npy(&encode_npy_f32(&[], &[0, 3])).unwrap();
        assert_eq!(b.shape, vec![0, 3]);
        assert_eq!(b.data, NpyData::F32(vec![]));
    }

    #[test]
    fn write_rejects_mismatched_shape() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.npy");
        let err = write_npy_f32(&p, &[1.0, 2.0, 3.0], &[2, 2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 values") && err.contains("(2, 2)"), "{err}");
        assert!(!p.exists());
    }

    #[test]
    fn reads_numpy_1x_header() {
        // Exactly as NumPy 1.x writes np.arange(6, dtype=np.float32).reshape(3, 2).
        let mut bytes =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"
                .to_vec();
        while bytes.len() < 127 {
            bytes.push(b' ');
        }
        bytes.push(b'\n');
        assert_eq!(bytes.len(), 128);
        bytes.extend(f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
        let arr = decode_npy(&bytes).unwrap();
        assert_eq!(arr.shape, vec![3, 2]);
        assert_eq!(arr.data, NpyData::F32(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
    }

    #[test]
    fn reads_versions_2_and_3_and_variants() {
        let body = f32_bytes(&[1.0, 2.0]);
        for version in [2u8, 3] {
            let bytes = raw_npy(
                version,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                &body,
            );
            let arr = decode_npy(&bytes).unwrap();
            assert_eq!(arr.shape, vec![2]);
        }
        // Python 2 style long integers, double quotes, no trailing comma, u'' prefix
        let bytes = raw_npy(
            1,
            "{\"descr\": u'<f4', \"shape\": (1L, 2L), \"fortran_order\": False}",
            &body,
        );
        assert_eq!(decode_npy(&bytes).unwrap().shape, vec![1, 2]);
        // 0-d
        let bytes = raw_npy(
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            &2.0f64.to_le_bytes(),
        );
        let arr = decode_npy(&bytes).unwrap();
        assert_eq!(arr.shape, Vec::<usize>::new());
        assert_eq!(arr.data, NpyData::F64(vec![2.0]));
    }

    #[test]
    fn reads_u8() {
        for descr in ["|u1", "<u1"] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2, 3), }}");
            let bytes = raw_npy(1, &dict, &[0, 1, 2, 253, 254, 255]);
            let arr = decode_npy(&bytes).unwrap();
            assert_eq!(arr.dtype, Dtype::U8);
            assert_eq!(arr.shape, vec![2, 3]);
            assert_eq!(arr.data, NpyData::U8(vec![0, 1, 2, 253, 254, 255]));
        }
    }

    #[test]
    fn matrix_rejects_u8() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = raw_npy(
            1,
            "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2), }",
            &[1, 2],
        );
        let p = write_bytes(&dir, "u.npy", &bytes);
        let err = read_matrix_f32(&p, "particles").unwrap_err().to_string();
        assert!(
            err.contains("uint8") && err.contains("float arrays"),
            "{err}"
        );
        assert!(err.contains("u.npy"), "{err}");
    }

    #[test]
    fn rejects_fortran_order() {
        let bytes = raw_npy(
            1,
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }",
            &f32_bytes(&[1.0, 2.0]),
        );
        let err = decode_npy(&bytes).unwrap_err().to_string();
        assert!(
            err.contains("Fortran") && err.contains("np.ascontiguousarray"),
            "{err}"
        );
    }

    #[test]
    fn rejects_wrong_dtype() {
        let bytes = raw_npy(
            1,
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        );
        let err = decode_npy(&bytes).unwrap_err().to_string();
        assert!(
            err.contains("'<i8'") && err.contains("'<f4'") && err.contains("astype(np.float32)"),
            "{err}"
        );
        let bytes = raw_npy(
            1,
            "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        );
        assert!(decode_npy(&bytes)
            .unwrap_err()
            .to_string()
            .contains("'>f4'"));
        let bytes = raw_npy(
            1,
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        );
        assert!(decode_npy(&bytes)
            .unwrap_err()
            .to_string()
            .contains("structured"));
    }

    #[test]
    fn rejects_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let full = encode_npy_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
        let p = write_bytes(&dir, "t.npy", &full[..full.len() - 3]);
        let err = read_npy(&p).unwrap_err().to_string();
        assert!(
            err.contains("t.npy")
                && err.contains("truncated")
                && err.contains("24 bytes")
                && err.contains("21"),
            "{err}"
        );
        // truncated inside the header
        let err = decode_npy(&full[..40]).unwrap_err().to_string();
        assert!(err.contains("truncated header"), "{err}");
        // too many bytes
        let mut long = full.clone();
        long.push(0);
        assert!(decode_npy(&long)
            .unwrap_err()
            .to_string()
            .contains("1 extra"));
        // a header longer than NumPy reads
        let long = raw_npy(
            2,
            &format!(
                "{{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }}{}",
                " ".repeat(10_000)
            ),
            &[0; 4],
        );
        let err = decode_npy(&long).unwrap_err().to_string();
        assert!(err.contains("longer than NumPy reads (10000)"), "{err}");
        // not npy at all
        assert!(decode_npy(b"hello world")
            .unwrap_err()
            .to_string()
            .contains("not a NumPy"));
        assert!(decode_npy(b"").is_err());
        let mut bad_version = full.clone();
        bad_version[6] = 4;
        assert!(decode_npy(&bad_version)
            .unwrap_err()
            .to_string()
            .contains("version 4.0"));
    }

    #[test]
    fn rejects_garbage_headers_without_panicking() {
        for dict in [
            "", "{", "{'descr': '<f4'", "[1, 2]", "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': 3, }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 9223372036854775807), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } extra",
            "{'descr': '<f4', 'fortran_order': False, 'shape': ((((((((((((((((((((((((((((((((((1,),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),),), }",
            "{'descr': \"<f4, 'fortran_order': False}",
            "\u{ff}\u{fe}",
        ] {
            let bytes = raw_npy(3, dict, &[0; 4]);
            let err = decode_npy(&bytes).unwrap_err().to_string();
            assert!(!err.is_empty());
        }
    }

    #[test]
    fn matrix_rejects_non_finite_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.npy");
        write_npy_f32(&p, &[0.0, 1.0, 2.0, 3.0, f32::NAN, 5.0], &[3, 2]).unwrap();
        let err = read_matrix_f32(&p, "particles").unwrap_err().to_string();
        assert!(
            err.contains("NaN") && err.contains("row 2, column 0") && err.contains("particles"),
            "{err}"
        );
        write_npy_f64(&p, &[0.0, f64::NEG_INFINITY], &[1, 2]).unwrap();
        let err = read_matrix_f32(&p, "particles").unwrap_err().to_string();
        assert!(
            err.contains("-inf") && err.contains("row 0, column 1"),
            "{err}"
        );
        write_npy_f64(&p, &[0.0, 1.0, 1e300, 0.0], &[2, 2]).unwrap();
        let err = read_matrix_f32(&p, "particles").unwrap_err().to_string();
        assert!(
            err.contains("float32 range") && err.contains("row 1, column 0"),
            "{err}"
        );
    }

    #[test]
    fn matrix_rejects_wrong_rank_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.npy");
        write_npy_f32(&p, &[1.0, 2.0, 3.0], &[3]).unwrap();
        let err = read_matrix_f32(&p, "particles").unwrap_err().to_string();
        assert!(
            err.contains("(3,)") && err.contains("x.reshape(-1, 1)"),
            "{err}"
        );
        write_npy_f32(&p, &[1.0; 8], &[2, 2, 2]).unwrap();
        let err = read_matrix_f32(&p, "particles").unwrap_err().to_string();
        assert!(err.contains("(2, 2, 2)"), "{err}");
        write_npy_f32(&p, &[], &[0, 2]).unwrap();
        let err = read_matrix_f32(&p, "particles").unwrap_err().to_string();
        assert!(err.contains("no rows"), "{err}");
        write_npy_f32(&p, &[], &[4, 0]).unwrap();
        let err = read_matrix_f32(&p, "particles").unwrap_err().to_string();
        assert!(err.contains("no columns"), "{err}");
        let err = read_matrix_f32(&dir.path().join("missing.npy"), "particles")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.npy") && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn format_shape_matches_python() {
        assert_eq!(format_shape(&[]), "()");
        assert_eq!(format_shape(&[5]), "(5,)");
        assert_eq!(format_shape(&[5, 1, 2]), "(5, 1, 2)");
    }
}
