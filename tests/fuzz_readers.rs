//! Fuzzes every reader of user files on the host, deterministically: a seeded mutation fuzzer
//! over the seed corpus in `fuzz/corpus/<reader>/` (the corpus the cargo-fuzz targets in
//! `fuzz/` start from) runs each reader on thousands of inputs and checks that none panics or
//! aborts, and that none allocates more than [`FACTOR`] times its input's size plus
//! [`SLACK`] bytes (a counting global allocator measures each call's peak; this is its own
//! test binary so that the allocator counts nothing else).
//!
//! A failing input is written to `target/tmp/fuzz-<reader>-failure.bin`. An abort (an
//! allocation over [`REFUSED`] bytes is refused, which aborts, as does a stack overflow)
//! leaves the input being read in `target/tmp/fuzz-<reader>-current.bin`. `STEIN_FUZZ_CASES`
//! sets the number of mutated inputs per reader (default [`CASES`]), `STEIN_FUZZ_SEED` the
//! seed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

// The `--config` TOML reader lives in the binary's `cli` module; it is compiled in here, as
// the cargo-fuzz target does.
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
/// Allowed peak allocation on top of `FACTOR` × the input's size.
const SLACK: usize = 256 * 1024;
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
            data[i] = [0u8, 1, 0x7f, 0x80, 0xff, b'"', b'[', b',', b'9', b'-', b'\n', b'='][rng.below(12)];
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
            let times = if rng.below(4) == 0 { 1 + rng.below(200) } else { 1 };
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
            let i = if rng.below(2) == 0 { rng.below(len) } else { [0, 8, 10][rng.below(3)].min(len) };
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
    for _ in 0..1 + rng.below(5) {
        mutate_once(&mut data, seeds, rng);
    }
    data
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
    let mut rng = Rng(seed ^ reader.bytes().fold(0u64, |h, b| h.wrapping_mul(31) ^ b as u64));
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let current = tmp.join(format!("fuzz-{reader}-current.bin"));
    let mut report = Report {
        cases: 0,
        accepted: 0,
        worst_ratio: 0.0,
        worst_bytes: 0,
    };
    let n = cases();
    for case in 0..seeds.len() + n {
        let input = match seeds.get(case) {
            Some(s) => s.clone(),
            None => make_case(&seeds, &mut rng),
        };
        std::fs::write(&current, &input).unwrap();
        let mut accepted = false;
        let (panicked, peak) = measured(|| accepted = read(&input));
        let bound = FACTOR * input.len() + SLACK;
        if panicked || peak > bound {
            let saved = tmp.join(format!("fuzz-{reader}-failure.bin"));
            std::fs::write(&saved, &input).unwrap();
            panic!(
                "{reader}: case {case} ({} bytes, saved to {}) {}",
                input.len(),
                saved.display(),
                if panicked {
                    "panicked".to_string()
                } else {
                    format!("allocated {peak} bytes at its peak, over the bound {bound}")
                }
            );
        }
        report.cases += 1;
        report.accepted += usize::from(accepted);
        let ratio = peak as f64 / input.len().max(1) as f64;
        if ratio > report.worst_ratio && input.len() >= 64 {
            report.worst_ratio = ratio;
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
    let _ = std::fs::remove_file(&current);
    eprintln!(
        "fuzz {reader}: {} cases, {} accepted, peak allocation at most {:.1} × the input (inputs of 64 bytes or more), {} bytes",
        report.cases, report.accepted, report.worst_ratio, report.worst_bytes
    );
    report
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
// One test per reader.

#[test]
fn npy() {
    quiet_panics();
    fuzz("npy", |b| {
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
    });
}

#[test]
fn csv() {
    quiet_panics();
    fuzz("csv", |b| {
        let plain = decode_data(b, DataFormat::Csv, "fuzz.csv", DataOptions::default()).is_ok();
        let opts = DataOptions {
            standardize: true,
            raw_u8: false,
        };
        let _ = decode_data(b, DataFormat::Csv, "fuzz.csv", opts);
        plain
    });
}

#[test]
fn target() {
    quiet_panics();
    fuzz("target", |b| {
        stein::io::target::from_json_str(&text(b), "fuzz.json").is_ok()
    });
}

#[test]
fn config() {
    quiet_panics();
    fuzz("config", |b| {
        let all = cli::train::parse_config(&text(b), "fuzz.toml", &|_| false).is_ok();
        // The command line's keys are checked but their values skipped.
        let _ = cli::train::parse_config(&text(b), "fuzz.toml", &|k| k.starts_with('l'));
        all
    });
}

#[test]
fn safetensors() {
    quiet_panics();
    fuzz("safetensors", |b| Tensors::decode(b).is_ok());
}

#[test]
fn model() {
    quiet_panics();
    fuzz("model", |b| {
        let Ok(t) = Tensors::decode(b) else {
            return false;
        };
        let model = ModelSpec::from_tensors(&t).is_ok();
        let generator = GenSpec::from_tensors(&t).is_ok();
        model || generator
    });
}

/// The seeds' runs: a GRBM with d = 3 and 4 hidden units, batches of 8; the SteinGAN's
/// generator 2-4-3.
const CHECKPOINT_SIZES: CheckpointSizes = CheckpointSizes {
    params: 3 * 4 + 3 + 4,
    chains: 8 * 3,
    generator: None,
};

#[test]
fn checkpoint() {
    quiet_panics();
    fuzz("checkpoint", |b| {
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
    });
}
