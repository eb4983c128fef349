//! Training and evaluation data: `.npy` (f32, f64 or u8, shape [N, d]; u8 scaled by 1/255
//! unless asked otherwise) or CSV with a header row of numeric columns, optionally
//! standardised. Every error names the file and says what to do.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::npy::{decode_npy, NpyData};

/// How to turn the file into floats.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DataOptions {
    /// Keep u8 values as 0..255 instead of dividing by 255.
    pub raw_u8: bool,
    /// Subtract each column's mean and divide by its standard deviation.
    pub standardize: bool,
}

/// A data matrix `[n, d]`, row-major f32.
#[derive(Clone, Debug)]
pub struct Data {
    /// Values.
    pub x: Vec<f32>,
    /// Rows.
    pub n: usize,
    /// Columns.
    pub d: usize,
    /// Per-column (mean, std) removed by `standardize`, to undo it.
    pub standardization: Option<Vec<(f64, f64)>>,
}

impl Data {
    /// The same rows standardised with `stats` (per column (mean, std), e.g. the training
    /// set's), this data's own standardisation undone first.
    pub fn standardized_with(&self, stats: &[(f64, f64)]) -> Data {
        let d = self.d;
        let x = self
            .x
            .iter()
            .enumerate()
            .map(|(e, &v)| {
                let a = e % d;
                let raw = match &self.standardization {
                    Some(own) => f64::from(v) * own[a].1 + own[a].0,
                    None => f64::from(v),
                };
                ((raw - stats[a].0) / stats[a].1) as f32
            })
            .collect();
        Data {
            x,
            n: self.n,
            d,
            standardization: Some(stats.to_vec()),
        }
    }

    /// Splits off `k` rows, chosen by a shuffle deterministic in `seed`, as held-out data;
    /// returns (training, held-out), both in the original row order. If this data was
    /// standardised, both are re-standardised with the training rows' statistics.
    pub fn holdout(&self, k: usize, seed: u64) -> Result<(Data, Data)> {
        if k == 0 || k >= self.n {
            bail!(
                "--holdout {k} must leave at least one row on each side of {} rows",
                self.n
            );
        }
        let mut order: Vec<usize> = (0..self.n).collect();
        let mut rng = super::target::SplitMix64::new(seed ^ 0x686f_6c64);
        for i in (1..self.n).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut held = vec![false; self.n];
        for &i in &order[..k] {
            held[i] = true;
        }
        let d = self.d;
        let pick = |want: bool| -> Data {
            let x: Vec<f32> = (0..self.n)
                .filter(|&i| held[i] == want)
                .flat_map(|i| self.x[i * d..(i + 1) * d].iter().copied())
                .collect();
            Data {
                n: x.len() / d,
                x,
                d,
                standardization: self.standardization.clone(),
            }
        };
        let (train, valid) = (pick(false), pick(true));
        if self.standardization.is_none() {
            return Ok((train, valid));
        }
        // Statistics of the training rows, in raw units.
        let raw = train.standardized_with(&vec![(0.0, 1.0); d]);
        let stats: Vec<(f64, f64)> = (0..d)
            .map(|a| {
                let col = raw.x.iter().skip(a).step_by(d).map(|&v| f64::from(v));
                let mean = col.clone().sum::<f64>() / raw.n as f64;
                let var = col.map(|v| (v - mean).powi(2)).sum::<f64>() / raw.n as f64;
                (mean, var.sqrt().max(f64::MIN_POSITIVE))
            })
            .collect();
        Ok((
            train.standardized_with(&stats),
            valid.standardized_with(&stats),
        ))
    }
}

/// The built-in synthetic data set `ring8`: a ring of 8 Gaussians, centres at radius 2 and
/// angles 2πk/8, standard deviation 0.2 per coordinate, equal weights.
pub const RING8_POINTS: usize = 4000;

/// Points of `ring8-valid`, the held-out set drawn with another seed.
pub const RING8_VALID_POINTS: usize = 1000;

/// `n` points of the ring of 8 Gaussians (see [`RING8_POINTS`]), deterministic in `seed`.
pub fn ring_of_gaussians(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = super::target::SplitMix64::new(seed ^ 0x7269_6e67);
    let mut x = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let k = (rng.next_u64() % 8) as f64;
        let a = std::f64::consts::TAU * k / 8.0;
        x.push((2.0 * a.cos() + 0.2 * rng.next_normal()) as f32);
        x.push((2.0 * a.sin() + 0.2 * rng.next_normal()) as f32);
    }
    x
}

/// Reads `.npy` or `.csv` by extension; the names `ring8` and `ring8-valid` (no such file)
/// give the built-in ring of 8 Gaussians, [`RING8_POINTS`] training and
/// [`RING8_VALID_POINTS`] held-out points (seeds 0 and 1).
pub fn load_data(path: &Path, opts: DataOptions) -> Result<Data> {
    for (name, n, seed) in [
        ("ring8", RING8_POINTS, 0),
        ("ring8-valid", RING8_VALID_POINTS, 1),
    ] {
        if path.as_os_str() == name && !path.exists() {
            return Ok(Data {
                x: ring_of_gaussians(n, seed),
                n,
                d: 2,
                standardization: None,
            });
        }
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format = match ext.as_str() {
        "npy" => DataFormat::Npy,
        "csv" => DataFormat::Csv,
        _ => bail!(
            "{}: unknown data format; give a .npy array [N, d] or a .csv file with a header row",
            path.display()
        ),
    };
    let bytes = std::fs::read(path).map_err(|e| match format {
        DataFormat::Npy => anyhow::anyhow!(
            "{}: cannot read file ({}); check the path",
            path.display(),
            e
        ),
        DataFormat::Csv => anyhow::Error::new(e).context(format!(
            "{}: cannot read the file; check the path",
            path.display()
        )),
    })?;
    decode_data(&bytes, format, &path.display().to_string(), opts)
}

/// The two file formats of data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    /// A NumPy `.npy` array `[N, d]`.
    Npy,
    /// CSV with a header row of numeric columns.
    Csv,
}

/// [`load_data`] on a file's bytes; `origin` (the file's name) starts every error message.
pub fn decode_data(
    bytes: &[u8],
    format: DataFormat,
    origin: &str,
    opts: DataOptions,
) -> Result<Data> {
    let (mut x, n, d) = match format {
        DataFormat::Npy => decode_npy_data(bytes, origin, opts)?,
        DataFormat::Csv => parse_csv(bytes, origin)?,
    };
    if n == 0 || d == 0 {
        bail!(
            "{}: the data is empty (shape [{n}, {d}]); give at least one row and one column",
            origin
        );
    }
    if let Some(e) = x.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: row {}, column {} is {}; remove or impute missing values first",
            origin,
            e / d,
            e % d,
            x[e]
        );
    }
    let standardization = if opts.standardize {
        let mut stats = Vec::with_capacity(d);
        for a in 0..d {
            let mean = (0..n).map(|i| f64::from(x[i * d + a])).sum::<f64>() / n as f64;
            let var = (0..n)
                .map(|i| (f64::from(x[i * d + a]) - mean).powi(2))
                .sum::<f64>()
                / n as f64;
            let sd = var.sqrt();
            if sd.is_nan() || sd <= 0.0 {
                bail!(
                    "{}: column {a} is constant; drop it or do not --standardize",
                    origin
                );
            }
            for i in 0..n {
                x[i * d + a] = ((f64::from(x[i * d + a]) - mean) / sd) as f32;
            }
            stats.push((mean, sd));
        }
        Some(stats)
    } else {
        None
    };
    Ok(Data {
        x,
        n,
        d,
        standardization,
    })
}

fn decode_npy_data(
    bytes: &[u8],
    origin: &str,
    opts: DataOptions,
) -> Result<(Vec<f32>, usize, usize)> {
    let a = decode_npy(bytes).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    if a.shape.len() != 2 {
        bail!(
            "{}: data must be a 2-D array [N, d], got shape {:?}; reshape it, e.g. x.reshape(len(x), -1)",
            origin,
            a.shape
        );
    }
    let (n, d) = (a.shape[0], a.shape[1]);
    let x = match a.data {
        NpyData::F32(v) => v,
        NpyData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        NpyData::U8(v) => {
            let s = if opts.raw_u8 { 1.0 } else { 1.0 / 255.0 };
            v.into_iter().map(|x| f32::from(x) * s).collect()
        }
    };
    Ok((x, n, d))
}

fn parse_csv(bytes: &[u8], origin: &str) -> Result<(Vec<f32>, usize, usize)> {
    // The message `read_to_string` gave before the reader took bytes.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })
        .with_context(|| format!("{origin}: cannot read the file; check the path"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().with_context(|| {
        format!(
            "{}: the file is empty; give a header row and data rows",
            origin
        )
    })?;
    let d = header.split(',').count();
    let mut x = Vec::new();
    let mut n = 0;
    for (r, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != d {
            bail!(
                "{}: row {} has {} columns, the header has {d}",
                origin,
                r + 1,
                cells.len()
            );
        }
        for (c, cell) in cells.iter().enumerate() {
            let v: f32 = cell.trim().trim_matches('"').parse().map_err(|_| {
                anyhow::anyhow!(
                    "{}: row {}, column {c} (`{}`) is not a number; give numeric columns only",
                    origin,
                    r + 1,
                    cell.trim()
                )
            })?;
            x.push(v);
        }
        n += 1;
    }
    Ok((x, n, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn csv_with_header_loads_and_standardizes() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "a.csv",
            "waiting,duration\n80,4.0\n60,2.0\n\n70,3.0\n",
        );
        let d = load_data(&p, DataOptions::default()).unwrap();
        assert_eq!((d.n, d.d), (3, 2));
        assert_eq!(d.x, vec![80.0, 4.0, 60.0, 2.0, 70.0, 3.0]);
        let s = load_data(
            &p,
            DataOptions {
                standardize: true,
                ..Default::default()
            },
        )
        .unwrap();
        let col0: Vec<f32> = (0..3).map(|i| s.x[i * 2]).collect();
        assert!((col0.iter().sum::<f32>()).abs() < 1e-6);
        let var: f32 = col0.iter().map(|v| v * v).sum::<f32>() / 3.0;
        assert!((var - 1.0).abs() < 1e-5);
        assert_eq!(s.standardization.unwrap()[0].0, 70.0);
    }

    #[test]
    fn csv_errors_name_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let e = |text: &str| {
            load_data(&write(dir.path(), "b.csv", text), DataOptions::default())
                .unwrap_err()
                .to_string()
        };
        assert!(e("a,b\n1,2\n3\n").contains("row 2 has 1 columns"));
        assert!(e("a,b\n1,x\n").contains("(`x`) is not a number"));
        assert!(e("a,b\n").contains("empty"));
        assert!(e("a,b\n1,nan\n").contains("NaN"));
        let c = write(dir.path(), "c.csv", "a,b\n1,2\n1,3\n");
        let err = load_data(
            &c,
            DataOptions {
                standardize: true,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("column 0 is constant"), "{err}");
        assert!(
            load_data(&write(dir.path(), "d.txt", "1"), DataOptions::default())
                .unwrap_err()
                .to_string()
                .contains("unknown data format")
        );
    }

    #[test]
    fn holdout_splits_deterministically_and_restandardizes_with_training_statistics() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        let opts = DataOptions {
            standardize: true,
            ..Default::default()
        };
        let g = load_data(&root.join("geyser.csv"), opts).unwrap();
        let (t, v) = g.holdout(50, 3).unwrap();
        assert_eq!((t.n, v.n, t.d), (249, 50, 2));
        let (t2, v2) = g.holdout(50, 3).unwrap();
        assert_eq!((t.x.clone(), v.x.clone()), (t2.x, v2.x));
        for a in 0..2 {
            let col: Vec<f64> =
                t.x.iter()
                    .skip(a)
                    .step_by(2)
                    .map(|&x| f64::from(x))
                    .collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!(
                mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
                "{mean} {var}"
            );
        }
        // Raw values survive: every held-out row is a raw geyser row.
        let raw = load_data(&root.join("geyser.csv"), DataOptions::default()).unwrap();
        let s = t.standardization.clone().unwrap();
        for r in v.x.chunks_exact(2) {
            let back = [
                f64::from(r[0]) * s[0].1 + s[0].0,
                f64::from(r[1]) * s[1].1 + s[1].0,
            ];
            assert!(raw
                .x
                .chunks_exact(2)
                .any(|q| (f64::from(q[0]) - back[0]).abs() < 1e-3
                    && (f64::from(q[1]) - back[1]).abs() < 1e-3));
        }
        assert!(g.holdout(0, 1).is_err() && g.holdout(299, 1).is_err());
    }

    #[test]
    fn ring8_has_eight_equal_clusters_at_radius_two() {
        let d = load_data(Path::new("ring8"), DataOptions::default()).unwrap();
        assert_eq!((d.n, d.d), (RING8_POINTS, 2));
        let mut counts = [0usize; 8];
        for p in d.x.chunks_exact(2) {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            let r = x.hypot(y);
            assert!((r - 2.0).abs() < 1.2, "point at radius {r}");
            let k = (y.atan2(x) / (std::f64::consts::TAU / 8.0))
                .round()
                .rem_euclid(8.0);
            counts[k as usize] += 1;
        }
        for c in counts {
            assert!((c as f64 - 500.0).abs() < 100.0, "cluster sizes {counts:?}");
        }
        assert_eq!(d.x, ring_of_gaussians(RING8_POINTS, 0), "deterministic");
    }

    #[test]
    fn real_csv_and_u8_npy_from_shared_data() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        let g = load_data(
            &root.join("geyser.csv"),
            DataOptions {
                standardize: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((g.n, g.d), (299, 2));
        let m = load_data(
            &root.join("digits8-train-images.npy"),
            DataOptions::default(),
        )
        .unwrap();
        assert_eq!((m.n, m.d), (1500, 64));
        assert!(m.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(m.x.iter().any(|&v| v == 1.0 / 255.0 * 16.0));
    }
}
