//! Fuzzes every reader of user files on the host, deterministically: a seeded mutation fuzzer
//! over the seed corpus in `fuzz/corpus/<reader>/` (the corpus the cargo-fuzz targets in
//! `fuzz/` start from) runs each reader on thousands of inputs and checks that none panics or
//! aborts, and that none allocates more than [`FACTOR`] times its input's size on top of what
//! it allocates for an empty input plus [`SLACK`] (a counting global allocator measures each
//! call's peak; this is its own test binary so that the allocator counts nothing else). The
//! `regressions` test holds the inputs that broke a reader before.
//!
//! A failing input is written to `target/tmp/fuzz-<reader>-failure.bin`. An allocation over
//! [`REFUSED`] bytes is refused while a reader runs, which aborts the process, as does a stack
//! overflow: `STEIN_FUZZ_TRACE=1` then writes each input to
//! `target/tmp/fuzz-<reader>-current.bin` before reading it, so the last one is the culprit.
//! `STEIN_FUZZ_CASES` sets the number of mutated inputs per reader (default [`CASES`]),
//! `STEIN_FUZZ_SEED` the seed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

// The `--config` TOML reader lives in the binary's `cli` module; it is compiled in here, as
// the cargo-fuzz target does (so the module's few unit tests also run in this binary).
#[allow(dead_code, unused_imports)]
#[path = "../src/cli/mod.rs"]
mod cli;

use stein::io::data::{decode_data, DataFormat, DataOptions};
use stein::io::safetensors::Tensors;
use stein::model::generator::GenSpec;
use stein::model::spec::ModelSpec;
use stein::train::{CheckpointSizes, CheckpointState, TrainConfig};

/// Mutated inputs per reader.
const CASES: usize = 4000;
/// Allowed peak allocation per input byte.
const FACTOR: usize = 32;
/// The same for `--config` TOML: the toml crate's parser takes up to ~90 bytes a byte of text
/// (a list of small numbers, or text it refuses), which the CLI caps at 1 MiB a file.
const CONFIG_FACTOR: usize = 128;
/// Allowed peak allocation on top of `FACTOR` × the input's size and the reader's allocation
/// for an empty input (its fixed cost: the `--config` reader builds the option names).
const SLACK: usize = 64 * 1024;
/// Allocations over this many bytes are refused while a reader runs (the process aborts), so
/// that a header claiming 2^60 elements fails fast instead of paging.
const REFUSED: usize = 256 << 20;

// ---------------------------------------------------------------------------------------------
// The counting allocator: per thread, so that tests running side by side do not mix.

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

impl Counting {
    fn grow(size: usize) {
        let _ = LIVE.try_with(|live| {
            let now = live.get().saturating_add(size);
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    fn shrink(size: usize) {
        let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
    }

    fn refused(size: usize) -> bool {
        size > REFUSED && ARMED.try_with(Cell::get).unwrap_or(false)
    }
}

// SAFETY: every call is passed on to the system allocator unchanged (or refused with null,
// which the caller handles); the bookkeeping only touches thread-local cells, allocating nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::refused(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::refused(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        Self::shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::refused(new_size) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::shrink(layout.size());
            Self::grow(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning whether it panicked and the peak of its allocations (bytes above what
/// this thread held when it started, results included).
fn measured(f: impl FnOnce()) -> (bool, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    ARMED.with(|a| a.set(true));
    let panicked = catch_unwind(AssertUnwindSafe(f)).is_err();
    ARMED.with(|a| a.set(false));
    (panicked, PEAK.with(Cell::get) - base)
}

// ---------------------------------------------------------------------------------------------
// The mutator.

/// SplitMix64: the cases follow from the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Text that readers of numbers, brackets and quotes trip on.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e309",
    "-1e309",
    "NaN",
    "nan",
    "inf",
    "99999999999999999999",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "1152921504606846976",
    "4294967296",
    "4294967295",
    "65535",
    "2147483648",
    "0x10",
    "1.5",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    "=",
    "\"",
    "'",
    "\\",
    "\n",
    "\r\n",
    " ",
    "\0",
    "\u{feff}",
    "\u{ff}",
    "é",
    "True",
    "None",
    "[[[[[[[[[[[[[[[[",
    "((((((((((((((((",
    "{{{{{{{{{{{{{{{{",
    "\"\"\"",
    "'''",
    "#",
    "__metadata__",
    "data_offsets",
    "shape",
    "F32",
];

/// Little-endian integers that header lengths and counts trip on.
const WORDS: &[u64] = &[
    0,
    1,
    7,
    8,
    0x7f,
    0xff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 60,
    u64::MAX,
    u64::MAX - 7,
];

/// One mutation of `data`; `seeds` are the corpus for splices.
fn mutate_once(data: &mut Vec<u8>, seeds: &[Vec<u8>], rng: &mut Rng) {
    let len = data.len();
    let at = rng.below(len + 1);
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = [
                0u8, 1, 0x7f, 0x80, 0xff, b'"', b'[', b',', b'9', b'-', b'\n', b'=',
            ][rng.below(12)];
        }
        2 => data.truncate(at),
        3 if len > 0 => {
            let n = 1 + rng.below((len - at).clamp(1, 64));
            data.drain(at..(at + n).min(len));
        }
        4 if len > 0 => {
            // Duplicate a stretch, once or many times (deep nesting, long rows).
            let from = rng.below(len);
            let n = 1 + rng.below((len - from).min(32));
            let chunk = data[from..from + n].to_vec();
            let times = if rng.below(4) == 0 {
                1 + rng.below(200)
            } else {
                1
            };
            for _ in 0..times {
                data.splice(at..at, chunk.iter().copied());
            }
        }
        5 => {
            // Splice: this input's head, another seed's tail.
            let other = &seeds[rng.below(seeds.len())];
            let from = rng.below(other.len() + 1);
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
        }
        6 => {
            let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
            data.splice(at..at, t.iter().copied());
        }
        7 if len > 0 => {
            // Replace a run of digits (a header's number) with a token.
            let start = rng.below(len);
            if let Some(off) = data[start..].iter().position(u8::is_ascii_digit) {
                let s = start + off;
                let e = s + data[s..].iter().take_while(|b| b.is_ascii_digit()).count();
                let t = TOKENS[rng.below(18)].as_bytes();
                data.splice(s..e, t.iter().copied());
            }
        }
        8 if len > 0 => {
            // Overwrite a little-endian integer of 2, 4 or 8 bytes.
            let w = WORDS[rng.below(WORDS.len())].to_le_bytes();
            let size = [2, 4, 8][rng.below(3)];
            let i = if rng.below(2) == 0 {
                rng.below(len)
            } else {
                [0, 8, 10][rng.below(3)].min(len)
            };
            for (k, b) in w[..size].iter().enumerate() {
                if let Some(slot) = data.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        9 => {
            let n = rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(at..at, bytes);
        }
        10 if len > 0 => {
            // Swap two bytes.
            let (i, j) = (rng.below(len), rng.below(len));
            data.swap(i, j);
        }
        _ => {
            // A seed unchanged, then mutated by the next rounds.
            *data = seeds[rng.below(seeds.len())].clone();
        }
    }
    data.truncate(1 << 20);
}

/// The `case`-th input: a seed with 1 to 5 stacked mutations.
fn make_case(seeds: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    if let (Some((header, body)), true) = (split_safetensors(&data), rng.below(4) != 0) {
        // Most safetensors cases mutate the JSON header alone and fix its length, so that
        // they get past the length check to the header's sizes and metadata.
        let headers: Vec<Vec<u8>> = seeds
            .iter()
            .filter_map(|s| split_safetensors(s).map(|(h, _)| h.to_vec()))
            .collect();
        let (mut header, body) = (header.to_vec(), body.to_vec());
        for _ in 0..1 + rng.below(4) {
            mutate_once(&mut header, &headers, rng);
        }
        data = (header.len() as u64).to_le_bytes().to_vec();
        data.extend(header);
        data.extend(body);
        return data;
    }
    for _ in 0..1 + rng.below(5) {
        mutate_once(&mut data, seeds, rng);
    }
    data
}

/// A safetensors file's JSON header and data, when `data` is one.
fn split_safetensors(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
    let end = usize::try_from(len).ok()?.checked_add(8)?;
    (data.get(8) == Some(&b'{') && end <= data.len()).then(|| (&data[8..end], &data[end..]))
}

// ---------------------------------------------------------------------------------------------
// The driver.

/// The seed files of `reader`, by name.
fn corpus(reader: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(reader);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(p).unwrap())
        })
        .collect();
    assert!(!seeds.is_empty(), "no seed files in {}", dir.display());
    seeds
}

fn cases() -> usize {
    std::env::var("STEIN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES)
}

/// What one reader did over the run.
struct Report {
    cases: usize,
    accepted: usize,
    /// The reader's peak allocation for an empty input.
    base: usize,
    /// The largest (peak − base) / size over inputs of 1 KiB or more (below, fixed costs rule).
    worst_ratio: f64,
    worst_bytes: usize,
}

/// Runs `read` (true when it accepted the input) on every seed and on [`cases`] mutations,
/// failing on a panic or an allocation over the bound.
fn fuzz(reader: &str, read: impl Fn(&[u8]) -> bool) -> Report {
    let named = corpus(reader);
    let seeds: Vec<Vec<u8>> = named.iter().map(|(_, b)| b.clone()).collect();
    let seed: u64 = std::env::var("STEIN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(seed
        ^ reader
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31) ^ b as u64));
    let trace = std::env::var_os("STEIN_FUZZ_TRACE").is_some();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let current = tmp.join(format!("fuzz-{reader}-current.bin"));
    let (_, base) = measured(|| {
        read(&[]);
    });
    let mut report = Report {
        cases: 0,
        accepted: 0,
        base,
        worst_ratio: 0.0,
        worst_bytes: 0,
    };
    for case in 0..seeds.len() + cases() {
        let input = match seeds.get(case) {
            Some(s) => s.clone(),
            None => make_case(&seeds, &mut rng),
        };
        if trace {
            std::fs::write(&current, &input).unwrap();
        }
        let mut accepted = false;
        let (panicked, peak) = measured(|| accepted = read(&input));
        if let Err(e) = check(
            reader,
            &format!("case {case}"),
            &input,
            panicked,
            peak,
            base,
        ) {
            panic!("{e}");
        }
        report.cases += 1;
        report.accepted += usize::from(accepted);
        if input.len() >= 1024 {
            let ratio = peak.saturating_sub(base) as f64 / input.len() as f64;
            report.worst_ratio = report.worst_ratio.max(ratio);
        }
        report.worst_bytes = report.worst_bytes.max(peak);
        if let Some((name, _)) = named.get(case) {
            // Seeds named bad-* are invalid on purpose; the others are files the reader takes.
            assert_eq!(
                accepted,
                !name.starts_with("bad-"),
                "{reader}: seed {name} accepted: {accepted}"
            );
        }
    }
    eprintln!(
        "fuzz {reader}: {} cases, {} accepted; peak allocation {} bytes for an empty input, at most {:.1} × the input above that (inputs of 1 KiB or more), {} bytes in all",
        report.cases, report.accepted, report.base, report.worst_ratio, report.worst_bytes
    );
    report
}

/// An error, the input saved, when a read panicked or allocated over the bound.
fn check(
    reader: &str,
    what: &str,
    input: &[u8],
    panicked: bool,
    peak: usize,
    base: usize,
) -> Result<(), String> {
    let factor = if reader == "config" {
        CONFIG_FACTOR
    } else {
        FACTOR
    };
    let bound = factor * input.len() + base + SLACK;
    if !panicked && peak <= bound {
        return Ok(());
    }
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{reader}-failure.bin"));
    std::fs::write(&saved, input).unwrap();
    Err(format!(
        "{reader}: {what} ({} bytes, saved to {}) {}",
        input.len(),
        saved.display(),
        if panicked {
            "panicked".to_string()
        } else {
            format!("allocated {peak} bytes at its peak, over the bound {bound}")
        }
    ))
}

/// Panics while a reader runs are the driver's to report (with the input); any other panic
/// (a failing assertion) prints as usual.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !ARMED.with(Cell::get) {
                default(info);
            }
        }));
    });
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The readers, each as the commands call it; true when the input was accepted.

fn read_npy(b: &[u8]) -> bool {
    let array = stein::io::npy::decode_npy(b).is_ok();
    let _ = stein::io::npy::decode_matrix_f32(b, "fuzz.npy", "particles");
    for standardize in [false, true] {
        for raw_u8 in [false, true] {
            let opts = DataOptions {
                standardize,
                raw_u8,
            };
            let _ = decode_data(b, DataFormat::Npy, "fuzz.npy", opts);
        }
    }
    array
}

fn read_csv(b: &[u8]) -> bool {
    let plain = decode_data(b, DataFormat::Csv, "fuzz.csv", DataOptions::default()).is_ok();
    let opts = DataOptions {
        standardize: true,
        raw_u8: false,
    };
    let _ = decode_data(b, DataFormat::Csv, "fuzz.csv", opts);
    plain
}

fn read_target(b: &[u8]) -> bool {
    stein::io::target::from_json_str(&text(b), "fuzz.json").is_ok()
}

fn read_config(b: &[u8]) -> bool {
    let all = cli::train::parse_config(&text(b), "fuzz.toml", &|_| false).is_ok();
    // The command line's keys are checked but their values skipped.
    let _ = cli::train::parse_config(&text(b), "fuzz.toml", &|k| k.starts_with('l'));
    all
}

fn read_safetensors(b: &[u8]) -> bool {
    Tensors::decode(b).is_ok()
}

fn read_model(b: &[u8]) -> bool {
    let Ok(t) = Tensors::decode(b) else {
        return false;
    };
    let model = ModelSpec::from_tensors(&t).is_ok();
    let generator = GenSpec::from_tensors(&t).is_ok();
    model || generator
}

/// The seeds' runs: a GRBM with d = 3 and 4 hidden units, batches of 8; the SteinGAN's
/// generator 2-4-3.
const CHECKPOINT_SIZES: CheckpointSizes = CheckpointSizes {
    params: 3 * 4 + 3 + 4,
    chains: 8 * 3,
    generator: None,
};

fn read_checkpoint(b: &[u8]) -> bool {
    let Ok(t) = Tensors::decode(b) else {
        return false;
    };
    // As `--resume` reads it: the configuration, then the state against the run's sizes.
    let config = t
        .metadata
        .get("config")
        .and_then(|c| serde_json::from_str::<TrainConfig>(c).ok());
    let config_ok = config.is_some_and(|c| c.validate().is_ok());
    let sizes = CheckpointSizes {
        generator: t
            .tensors
            .contains_key("gen_eta")
            .then_some((2 + 1) * 4 + (4 + 1) * 3),
        ..CHECKPOINT_SIZES
    };
    CheckpointState::read(&t, sizes).is_ok() && config_ok
}

// ---------------------------------------------------------------------------------------------
// One test per reader, and the inputs that broke readers before.

#[test]
fn npy() {
    quiet_panics();
    fuzz("npy", read_npy);
}

#[test]
fn csv() {
    quiet_panics();
    fuzz("csv", read_csv);
}

#[test]
fn target() {
    quiet_panics();
    fuzz("target", read_target);
}

#[test]
fn config() {
    quiet_panics();
    fuzz("config", read_config);
}

#[test]
fn safetensors() {
    quiet_panics();
    fuzz("safetensors", read_safetensors);
}

#[test]
fn model() {
    quiet_panics();
    fuzz("model", read_model);
}

#[test]
fn checkpoint() {
    quiet_panics();
    fuzz("checkpoint", read_checkpoint);
}

/// A safetensors file with this JSON header and data.
fn safetensors_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// An `.npy` file (version 1.0) with this header dict and body.
fn npy_file(dict: &str, body: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((dict.len() as u16 + 1).to_le_bytes());
    out.extend(dict.as_bytes());
    out.push(b'\n');
    out.extend(body);
    out
}

/// A safetensors file holding only this metadata.
fn metadata_only(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut t = Tensors::default();
    for (k, v) in pairs {
        t.metadata.insert(k.to_string(), v.to_string());
    }
    t.encode()
}

/// Each input that once made a reader panic or allocate far beyond its size; every one must
/// now be refused within the bound.
#[test]
fn regressions() {
    quiet_panics();
    let overlapping = {
        // 256 tensors over the same 64 KiB: each decoded to its own copy (16 MiB).
        let entries: Vec<String> = (0..256)
            .map(|i| {
                format!(r#""t{i}":{{"dtype":"F32","shape":[16384],"data_offsets":[0,65536]}}"#)
            })
            .collect();
        safetensors_file(&format!("{{{}}}", entries.join(",")), &[0; 65536])
    };
    type Reader = fn(&[u8]) -> bool;
    let cases: Vec<(&str, &str, Reader, Vec<u8>)> = vec![
        (
            "safetensors",
            "a header length of 2^64 - 1 (wrapped, then sliced out of bounds)",
            read_safetensors,
            u64::MAX
                .to_le_bytes()
                .iter()
                .chain(b"{}")
                .copied()
                .collect(),
        ),
        (
            "safetensors",
            "a shape whose element count overflows (matched an empty slice)",
            read_safetensors,
            safetensors_file(
                r#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#,
                &[],
            ),
        ),
        (
            "safetensors",
            "256 tensors sharing one stretch of data",
            read_safetensors,
            overlapping,
        ),
        (
            "model",
            "MLP widths 4000-4000-1 in the metadata and no tensors (reserved 64 MB)",
            read_model,
            metadata_only(&[
                ("model", "mlp"),
                ("widths", "[4000,4000,1]"),
                ("activation", "softplus"),
                ("sigma0", "3.0"),
            ]),
        ),
        (
            "model",
            "generator widths 4000-4000-2 in the metadata and no tensors",
            read_model,
            metadata_only(&[
                ("model", "generator"),
                ("widths", "[4000,4000,2]"),
                ("activation", "softplus"),
                ("output", "identity"),
                ("nz", "4000"),
            ]),
        ),
        (
            "npy",
            "a shape of 2^60 elements",
            read_npy,
            npy_file(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976,), }",
                &[0; 4],
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (reader, what, read, input) in cases {
        let (_, base) = measured(|| {
            read(&[]);
        });
        let mut accepted = false;
        let (panicked, peak) = measured(|| accepted = read(&input));
        if let Err(e) = check(reader, what, &input, panicked, peak, base) {
            failures.push(e);
        } else if accepted {
            failures.push(format!("{reader}: {what}: accepted"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Inputs of a megabyte or so, valid and not, of the shapes that cost readers most memory per
/// byte: the bound's factor matters here, where the slack does not.
#[test]
fn large_inputs_stay_within_the_bound() {
    quiet_panics();
    let n = 200_000;
    let list = |item: &str| vec![item; n].join(",");
    let shape_list = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
        list("1")
    );
    let mut npy_v2 = npy_file(&shape_list, &[0; 4]);
    npy_v2[6] = 2; // version 2.0: a 4-byte header length
    let len = (shape_list.len() + 1) as u32;
    npy_v2.splice(8..10, len.to_le_bytes());
    type Reader = fn(&[u8]) -> bool;
    let cases: Vec<(&str, &str, Reader, Vec<u8>)> = vec![
        (
            "npy",
            "a header of a shape of 200000 ones",
            read_npy,
            npy_v2,
        ),
        (
            "npy",
            "200000 rows of f32",
            read_npy,
            npy_file(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (200000, 2), }",
                &[0; 1_600_000],
            ),
        ),
        (
            "csv",
            "200000 rows",
            read_csv,
            format!("a,b,c\n{}", "1,2,3\n".repeat(n)).into_bytes(),
        ),
        (
            "csv",
            "one row of 200000 cells",
            read_csv,
            format!("{}\n{}\n", list("a"), list("1")).into_bytes(),
        ),
        (
            "target",
            "a mixture of 200000 one-dimensional components",
            read_target,
            format!(
                r#"{{"kind":"gmm","weights":[{}],"means":[{}],"stds":[{}]}}"#,
                list("1"),
                list("[0]"),
                list("[1]")
            )
            .into_bytes(),
        ),
        (
            "target",
            "a JSON list of 200000 zeros",
            read_target,
            format!("[{}]", list("0")).into_bytes(),
        ),
        (
            "target",
            "nested empty lists as the covariance",
            read_target,
            format!(r#"{{"kind":"gaussian","mean":[0],"cov":[{}]}}"#, list("[]")).into_bytes(),
        ),
        (
            "config",
            "widths of 200000 numbers",
            read_config,
            format!("widths = [{}]\n", list("8")).into_bytes(),
        ),
        (
            "config",
            "200000 invalid lines",
            read_config,
            " = 5\n".repeat(n).into_bytes(),
        ),
        (
            "safetensors",
            "a shape of 200000 ones",
            read_safetensors,
            safetensors_file(
                &format!(
                    r#"{{"a":{{"dtype":"F32","shape":[{}],"data_offsets":[0,4]}}}}"#,
                    list("1")
                ),
                &[0; 4],
            ),
        ),
        (
            "safetensors",
            "20000 one-value tensors",
            read_safetensors,
            safetensors_file(
                &format!(
                    "{{{}}}",
                    (0..20_000)
                        .map(|i| format!(
                            r#""t{i}":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}}"#,
                            4 * i,
                            4 * i + 4
                        ))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                &[0; 80_000],
            ),
        ),
        (
            "model",
            "MLP widths of 200000 ones",
            read_model,
            metadata_only(&[
                ("model", "mlp"),
                ("widths", &format!("[{}]", list("1"))),
                ("activation", "softplus"),
                ("sigma0", "3.0"),
            ]),
        ),
    ];
    let mut failures = Vec::new();
    for (reader, what, read, input) in cases {
        let (_, base) = measured(|| {
            read(&[]);
        });
        let (panicked, peak) = measured(|| {
            read(&input);
        });
        eprintln!(
            "{reader}: {what}: {} bytes, peak {peak} ({:.1} × the input)",
            input.len(),
            peak.saturating_sub(base) as f64 / input.len() as f64
        );
        if let Err(e) = check(reader, what, &input, panicked, peak, base) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
