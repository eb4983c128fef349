//! Training and evaluation data: `.npy` (f32, f64 or u8, shape [N, d]; u8 scaled by 1/255
//! unless asked otherwise) or CSV with a header row of numeric columns, and the
//! [`Transform`] that takes a file's values to a model's units (u8 scaling, per-column
//! standardisation), which a trained model carries in its metadata. Every error names the
//! file and says what to do.
//!
//! Units: a file's *data units* are its values, u8 files as scaled when read (÷255 unless
//! raw); a model's units are the data units standardised with the training rows' means and
//! standard deviations (the identity without `--standardize`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::npy::{decode_npy, NpyData};

/// How to turn the file into floats.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DataOptions {
    /// Keep u8 values as 0..255 instead of dividing by 255.
    pub raw_u8: bool,
    /// Subtract each column's mean and divide by its standard deviation.
    pub standardize: bool,
}

/// How a u8 `.npy` file's values become floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum U8Scale {
    /// Divided by 255: values in [0, 1] (the default).
    Unit,
    /// Kept as 0..255 (`--raw-u8`).
    Raw,
}

/// Per-column standardisation: model value = (data value − mean) / std.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardization {
    /// Column means, in data units.
    pub mean: Vec<f64>,
    /// Column standard deviations (population, positive), in data units.
    pub std: Vec<f64>,
}

/// The units of values given to or written by a command about a trained model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Units {
    /// The data's units: the model's [`Transform`] is applied to inputs and undone on outputs.
    #[default]
    Data,
    /// The model's units (standardised when the model was trained with `--standardize`):
    /// values pass unchanged.
    Model,
}

/// The data transform a model was trained with, from a file's values to the model's units:
/// a u8 file's bytes are scaled (`u8`), giving the data's units, then each column is
/// standardised (`standardize`). Stored as JSON in a model file's metadata under
/// [`Transform::METADATA_KEY`] and in a run's `config.json`; model files written before it
/// have none and are read as today (the identity, with the command's flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    /// Columns.
    pub d: usize,
    /// How the training file's u8 values were scaled; `None`: the training data was not u8.
    pub u8: Option<U8Scale>,
    /// The training rows' column statistics; `None`: not standardised.
    pub standardize: Option<Standardization>,
}

impl Transform {
    /// The metadata key of a model file (`model.safetensors`, `checkpoint.safetensors`,
    /// `generator.safetensors`) that holds the transform as JSON.
    pub const METADATA_KEY: &'static str = "transform";

    /// No transform on `d` columns of float data.
    pub fn identity(d: usize) -> Self {
        Self {
            d,
            u8: None,
            standardize: None,
        }
    }

    /// Whether values in data units and model units are the same.
    pub fn is_identity(&self) -> bool {
        self.standardize.is_none()
    }

    /// Rows `[n, d]` in data units → model units, in place.
    pub fn to_model(&self, x: &mut [f32]) {
        if let Some(s) = &self.standardize {
            for (e, v) in x.iter_mut().enumerate() {
                let a = e % self.d;
                *v = ((f64::from(*v) - s.mean[a]) / s.std[a]) as f32;
            }
        }
    }

    /// Rows `[n, d]` in model units → data units, in place (the inverse of
    /// [`Transform::to_model`] up to rounding).
    pub fn to_data(&self, x: &mut [f32]) {
        if let Some(s) = &self.standardize {
            for (e, v) in x.iter_mut().enumerate() {
                let a = e % self.d;
                *v = (f64::from(*v) * s.std[a] + s.mean[a]) as f32;
            }
        }
    }

    /// The transform as the JSON stored in model files and `config.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a transform serialises")
    }

    /// The transform of a model file's metadata; `None` for a file written before transforms
    /// were stored. Refuses a malformed one (or one from a newer stein).
    pub fn from_metadata(metadata: &BTreeMap<String, String>) -> Result<Option<Self>> {
        let Some(text) = metadata.get(Self::METADATA_KEY) else {
            return Ok(None);
        };
        let t: Transform = serde_json::from_str(text).with_context(|| {
            format!(
                "metadata `{}` is not a data transform this version of stein reads; use the stein that wrote the model",
                Self::METADATA_KEY
            )
        })?;
        t.check()
            .with_context(|| format!("metadata `{}`", Self::METADATA_KEY))?;
        Ok(Some(t))
    }

    /// [`Transform::from_metadata`] of the model file `path` whose model has dimension `d`.
    pub fn from_metadata_of(
        metadata: &BTreeMap<String, String>,
        d: usize,
        path: &Path,
    ) -> Result<Option<Self>> {
        let t = Self::from_metadata(metadata).with_context(|| path.display().to_string())?;
        if let Some(t) = &t {
            ensure!(
                t.d == d,
                "{}: metadata `{}` has d = {} but the model has d = {}; the file is damaged",
                path.display(),
                Self::METADATA_KEY,
                t.d,
                d
            );
        }
        Ok(t)
    }

    /// Checks the shapes and numbers (after reading one from a file).
    pub fn check(&self) -> Result<()> {
        ensure!(self.d >= 1, "d = 0");
        if let Some(s) = &self.standardize {
            ensure!(
                s.mean.len() == self.d && s.std.len() == self.d,
                "{} means and {} standard deviations for d = {}",
                s.mean.len(),
                s.std.len(),
                self.d
            );
            ensure!(
                s.mean.iter().all(|m| m.is_finite())
                    && s.std.iter().all(|v| v.is_finite() && *v > 0.0),
                "means must be finite and standard deviations positive"
            );
        }
        Ok(())
    }

    /// Refuses the data options `opts` of a command where they contradict this transform
    /// (`--standardize` on a model trained without it, `--raw-u8` on one trained on u8 data
    /// divided by 255); where they agree they are redundant. `--standardize` is refused with
    /// `units` = [`Units::Model`], whose values are standardised already.
    pub fn check_options(&self, opts: DataOptions, units: Units) -> Result<()> {
        if opts.standardize {
            ensure!(
                units == Units::Data,
                "--standardize with --units model: values in the model's units are standardised already; drop --standardize"
            );
            ensure!(
                self.standardize.is_some(),
                "--standardize: the model was trained on unstandardised data; drop --standardize"
            );
        }
        ensure!(
            !(opts.raw_u8 && self.u8 == Some(U8Scale::Unit)),
            "--raw-u8: the model was trained on u8 data divided by 255 (values in [0, 1]) and scales u8 data so itself; drop --raw-u8"
        );
        Ok(())
    }

    /// Refuses float values in data units (`x`, from `path`) whose scale contradicts the
    /// model's u8 training data: values beyond [−0.5, 1.5] for a model trained on u8 data
    /// divided by 255, or values within [0, 1.5] with fractions for one trained on raw 0..255
    /// bytes.
    pub fn check_scale(&self, path: &Path, x: &[f32]) -> Result<()> {
        let (lo, hi) = x
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        match self.u8 {
            Some(U8Scale::Unit) => ensure!(
                (-0.5..=1.5).contains(&lo) && (-0.5..=1.5).contains(&hi),
                "{}: values run from {lo} to {hi} but the model was trained on u8 data divided by 255 (values in [0, 1]); divide the data by 255 or give the u8 file",
                path.display()
            ),
            Some(U8Scale::Raw) => ensure!(
                !(lo >= 0.0 && hi <= 1.5 && x.iter().any(|v| v.fract() != 0.0)),
                "{}: values lie in [0, 1] but the model was trained on raw u8 data (0..255, --raw-u8); multiply the data by 255 or give the u8 file",
                path.display()
            ),
            None => {}
        }
        Ok(())
    }
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
    /// How `x` was made from the file's values: the u8 scaling (`None`: the file is not u8)
    /// and the standardisation, to undo it.
    pub transform: Transform,
}

impl Data {
    /// This data (in data units, not standardised) standardised with its own column
    /// statistics; `path` names it in the error for a constant column.
    pub fn standardized(mut self, path: &Path) -> Result<Data> {
        ensure!(
            self.transform.standardize.is_none(),
            "{}: standardised twice",
            path.display()
        );
        let (n, d) = (self.n, self.d);
        let (mut mean, mut std) = (Vec::with_capacity(d), Vec::with_capacity(d));
        for a in 0..d {
            let m = (0..n).map(|i| f64::from(self.x[i * d + a])).sum::<f64>() / n as f64;
            let var = (0..n)
                .map(|i| (f64::from(self.x[i * d + a]) - m).powi(2))
                .sum::<f64>()
                / n as f64;
            let sd = var.sqrt();
            if sd.is_nan() || sd <= 0.0 {
                bail!(
                    "{}: column {a} is constant; drop it or do not --standardize",
                    path.display()
                );
            }
            mean.push(m);
            std.push(sd);
        }
        self.transform.standardize = Some(Standardization { mean, std });
        self.transform.to_model(&mut self.x);
        Ok(self)
    }

    /// The same rows standardised with `t`'s statistics (e.g. the training set's) instead,
    /// this data's own standardisation undone first. `t.d` must be this data's d.
    pub fn with_transform(&self, t: &Transform) -> Data {
        let mut x = self.x.clone();
        self.transform.to_data(&mut x);
        t.to_model(&mut x);
        Data {
            x,
            n: self.n,
            d: self.d,
            transform: Transform {
                standardize: t.standardize.clone(),
                ..self.transform.clone()
            },
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
        let raw = Transform {
            standardize: None,
            ..self.transform.clone()
        };
        let pick = |want: bool| -> Data {
            let mut x: Vec<f32> = (0..self.n)
                .filter(|&i| held[i] == want)
                .flat_map(|i| self.x[i * d..(i + 1) * d].iter().copied())
                .collect();
            // Back to data units.
            self.transform.to_data(&mut x);
            Data {
                n: x.len() / d,
                x,
                d,
                transform: raw.clone(),
            }
        };
        let (train, valid) = (pick(false), pick(true));
        if self.transform.standardize.is_none() {
            return Ok((train, valid));
        }
        let train = train.standardized(Path::new("--holdout training rows"))?;
        let valid = valid.with_transform(&train.transform);
        Ok((train, valid))
    }
}

/// Training and validation data as `stein train` reads them ([`load_training`]).
#[derive(Clone, Debug)]
pub struct TrainingData {
    /// The training rows in the model's units; their `transform` is the model's.
    pub train: Data,
    /// Validation data (a file or the held-out rows) in the model's units.
    pub valid: Option<Data>,
    /// The held-out rows `[k, d]` in data units, as read (for `valid.npy`).
    pub held_out: Option<Vec<f32>>,
}

/// Reads training data as `stein train` does: `path` read with `opts`; with `holdout` =
/// (k, seed) k rows held out (the split of [`Data::holdout`]); the standardisation (with
/// `opts.standardize`) fitted on the training rows alone and applied to both; `valid` a file
/// read as for the model ([`load_for_model`]).
pub fn load_training(
    path: &Path,
    opts: DataOptions,
    holdout: Option<(usize, u64)>,
    valid: Option<&Path>,
) -> Result<TrainingData> {
    let raw = load_data(
        path,
        DataOptions {
            standardize: false,
            ..opts
        },
    )?;
    let (train, held) = match holdout {
        Some((k, seed)) => {
            let (t, v) = raw.holdout(k, seed)?;
            (t, Some(v))
        }
        None => (raw, None),
    };
    let train = if opts.standardize {
        train.standardized(path)?
    } else {
        train
    };
    let valid = match (valid, &held) {
        (Some(p), _) => Some(load_for_model(
            p,
            Some(&train.transform),
            opts,
            Units::Data,
        )?),
        (None, Some(v)) => Some(v.with_transform(&train.transform)),
        (None, None) => None,
    };
    Ok(TrainingData {
        train,
        valid,
        held_out: held.map(|v| v.x),
    })
}

/// Reads data for a model trained with the transform `t`, in the model's units: a u8 file
/// scaled as the training file was, a float file's scale checked against it
/// ([`Transform::check_scale`]), then standardised with the training statistics. With
/// `units` = [`Units::Model`] the values are taken as they are. The command's `opts` are
/// refused where they contradict `t` ([`Transform::check_options`]) and otherwise redundant.
/// Without `t` (a model file written before transforms were stored) the file is read with
/// `opts` as given, `--standardize` using the file's own statistics.
pub fn load_for_model(
    path: &Path,
    t: Option<&Transform>,
    opts: DataOptions,
    units: Units,
) -> Result<Data> {
    let Some(t) = t else {
        return load_data(path, opts);
    };
    t.check_options(opts, units)?;
    let raw_u8 = match t.u8 {
        Some(U8Scale::Raw) => true,
        Some(U8Scale::Unit) => false,
        None => opts.raw_u8,
    };
    let mut data = load_data(
        path,
        DataOptions {
            raw_u8,
            standardize: false,
        },
    )?;
    ensure!(
        data.d == t.d,
        "{}: data has d = {} but the model has d = {}; give data of the model's dimension",
        path.display(),
        data.d,
        t.d
    );
    if units == Units::Data {
        if data.transform.u8.is_none() {
            t.check_scale(path, &data.x)?;
        }
        t.to_model(&mut data.x);
        data.transform.standardize = t.standardize.clone();
    }
    Ok(data)
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
                transform: Transform::identity(2),
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
    let (x, n, d, u8) = match format {
        DataFormat::Npy => decode_npy_data(bytes, origin, opts)?,
        DataFormat::Csv => {
            let (x, n, d) = parse_csv(bytes, origin)?;
            (x, n, d, None)
        }
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
    let data = Data {
        x,
        n,
        d,
        transform: Transform {
            d,
            u8,
            standardize: None,
        },
    };
    if opts.standardize {
        data.standardized(Path::new(origin))
    } else {
        Ok(data)
    }
}

/// The values, rows, columns, and for a u8 file how it was scaled.
fn decode_npy_data(
    bytes: &[u8],
    origin: &str,
    opts: DataOptions,
) -> Result<(Vec<f32>, usize, usize, Option<U8Scale>)> {
    let a = decode_npy(bytes).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    if a.shape.len() != 2 {
        bail!(
            "{}: data must be a 2-D array [N, d], got shape {:?}; reshape it, e.g. x.reshape(len(x), -1)",
            origin,
            a.shape
        );
    }
    let (n, d) = (a.shape[0], a.shape[1]);
    Ok(match a.data {
        NpyData::F32(v) => (v, n, d, None),
        NpyData::F64(v) => (v.into_iter().map(|x| x as f32).collect(), n, d, None),
        NpyData::U8(v) => {
            let (s, scale) = if opts.raw_u8 {
                (1.0, U8Scale::Raw)
            } else {
                (1.0 / 255.0, U8Scale::Unit)
            };
            let x = v.into_iter().map(|x| f32::from(x) * s).collect();
            (x, n, d, Some(scale))
        }
    })
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
        assert_eq!(s.transform.standardize.unwrap().mean[0], 70.0);
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
        let s = t.transform.standardize.clone().unwrap();
        assert_eq!(
            v.transform, t.transform,
            "held-out rows in the training transform"
        );
        for r in v.x.chunks_exact(2) {
            let back = [
                f64::from(r[0]) * s.std[0] + s.mean[0],
                f64::from(r[1]) * s.std[1] + s.mean[1],
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

    fn geyser_transform() -> Transform {
        Transform {
            d: 2,
            u8: None,
            standardize: Some(Standardization {
                mean: vec![72.314_381_270_903_01, 3.460_813_825_083_612],
                std: vec![13.867_076_593_353_657, 1.145_982_484_613_376_4],
            }),
        }
    }

    #[test]
    fn transform_round_trips_values_and_metadata() {
        let t = geyser_transform();
        let data = [80.0f32, 4.0, 60.0, 2.0, 43.0, 1.6, 96.0, 5.1];
        let mut x = data;
        t.to_model(&mut x);
        let s = t.standardize.as_ref().unwrap();
        assert_eq!(x[0], ((80.0 - s.mean[0]) / s.std[0]) as f32);
        t.to_data(&mut x);
        for (a, b) in x.iter().zip(&data) {
            assert!((a - b).abs() <= 4.0 * f32::EPSILON * b.abs(), "{a} vs {b}");
        }
        // JSON in model metadata reads back bit for bit.
        let mut meta = BTreeMap::new();
        assert_eq!(
            Transform::from_metadata(&meta).unwrap(),
            None,
            "older files"
        );
        for t in [
            t,
            Transform::identity(3),
            Transform {
                u8: Some(U8Scale::Raw),
                ..Transform::identity(64)
            },
        ] {
            meta.insert(Transform::METADATA_KEY.into(), t.to_json());
            assert_eq!(Transform::from_metadata(&meta).unwrap(), Some(t.clone()));
            let mut y = data;
            let before = y;
            if t.is_identity() {
                t.to_model(&mut y);
                t.to_data(&mut y);
                assert_eq!(y, before, "the identity leaves values bit for bit");
            }
        }
        // Statistics read back bit for bit (serde_json's float_roundtrip; its default parser
        // misses some 17-digit numbers by an ULP).
        let mut rng = super::super::target::SplitMix64::new(7);
        let mean: Vec<f64> = (0..2000).map(|_| rng.next_normal() * 1e3).collect();
        let t = Transform {
            d: 2000,
            u8: None,
            standardize: Some(Standardization {
                std: mean.iter().map(|m| m.abs() + 1e-3).collect(),
                mean,
            }),
        };
        meta.insert(Transform::METADATA_KEY.into(), t.to_json());
        assert_eq!(Transform::from_metadata(&meta).unwrap(), Some(t));
        // Malformed, inconsistent or newer transforms are refused.
        for bad in [
            r#"{"d": 0}"#,
            r#"{"d": 2, "u8": null, "standardize": {"mean": [0], "std": [1]}}"#,
            r#"{"d": 1, "u8": null, "standardize": {"mean": [0], "std": [0]}}"#,
            r#"{"d": 1, "u8": null, "standardize": null, "log": true}"#,
            r#"{"d": 1, "u8": "half", "standardize": null}"#,
        ] {
            meta.insert(Transform::METADATA_KEY.into(), bad.into());
            assert!(Transform::from_metadata(&meta).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn contradicting_options_and_scales_are_refused() {
        let unit = Transform {
            u8: Some(U8Scale::Unit),
            ..Transform::identity(2)
        };
        let raw = Transform {
            u8: Some(U8Scale::Raw),
            ..Transform::identity(2)
        };
        let raw_u8 = DataOptions {
            raw_u8: true,
            ..Default::default()
        };
        let standardize = DataOptions {
            standardize: true,
            ..Default::default()
        };
        let e = unit
            .check_options(raw_u8, Units::Data)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--raw-u8") && e.contains("drop --raw-u8"),
            "{e}"
        );
        raw.check_options(raw_u8, Units::Data).unwrap();
        let e = unit
            .check_options(standardize, Units::Data)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unstandardised"), "{e}");
        geyser_transform()
            .check_options(standardize, Units::Data)
            .unwrap();
        assert!(geyser_transform()
            .check_options(standardize, Units::Model)
            .is_err());
        let p = Path::new("x.npy");
        unit.check_scale(p, &[0.0, 0.5, 1.0, 1.0000001]).unwrap();
        let e = unit.check_scale(p, &[0.0, 255.0]).unwrap_err().to_string();
        assert!(e.contains("divide the data by 255"), "{e}");
        raw.check_scale(p, &[0.0, 1.0, 255.0, 3.0]).unwrap();
        raw.check_scale(p, &[0.0, 1.0]).unwrap();
        let e = raw.check_scale(p, &[0.0, 0.2]).unwrap_err().to_string();
        assert!(e.contains("multiply the data by 255"), "{e}");
        Transform::identity(2).check_scale(p, &[1e6, -1e6]).unwrap();
    }

    #[test]
    fn data_for_a_model_takes_the_training_statistics_and_u8_scale() {
        let dir = tempfile::tempdir().unwrap();
        let train = write(dir.path(), "t.csv", "a,b\n80,4.0\n60,2.0\n70,3.0\n");
        let other = write(dir.path(), "o.csv", "a,b\n90,5.0\n50,1.0\n");
        let opts = DataOptions {
            standardize: true,
            ..Default::default()
        };
        let TrainingData {
            train: t, valid, ..
        } = load_training(&train, opts, None, Some(&other)).unwrap();
        let v = valid.unwrap();
        let own = load_data(&other, opts).unwrap();
        assert_ne!(v.x, own.x, "the validation file's own statistics");
        let got = load_for_model(
            &other,
            Some(&t.transform),
            DataOptions::default(),
            Units::Data,
        )
        .unwrap();
        assert_eq!(
            got.x, v.x,
            "eval reads what training validated on, bit for bit"
        );
        let redundant = load_for_model(&other, Some(&t.transform), opts, Units::Data).unwrap();
        assert_eq!(redundant.x, v.x);
        let as_is = load_for_model(
            &other,
            Some(&t.transform),
            DataOptions::default(),
            Units::Model,
        )
        .unwrap();
        assert_eq!(as_is.x, vec![90.0, 5.0, 50.0, 1.0]);
        // Without a transform (older model files): the options as given.
        let old = load_for_model(&other, None, opts, Units::Data).unwrap();
        assert_eq!(old.x, own.x);
        // A held-out split is standardised with the training rows' statistics, and its
        // training rows with exactly the statistics stored.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        let g = root.join("geyser.csv");
        let TrainingData {
            train: t,
            valid: v,
            held_out,
        } = load_training(&g, opts, Some((50, 3)), None).unwrap();
        let raw = load_data(&g, DataOptions::default()).unwrap();
        let (rt, rv) = raw.holdout(50, 3).unwrap();
        assert_eq!(held_out.unwrap(), rv.x, "held-out rows as read");
        let mut want = rv.x.clone();
        t.transform.to_model(&mut want);
        assert_eq!(v.unwrap().x, want);
        assert_eq!(rt.standardized(&g).unwrap().x, t.x);
        // u8 data: the scale comes from the model, --raw-u8 must agree with it.
        let bytes: Vec<u8> = (0..8u8).map(|v| v * 30).collect();
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let mut h = "{'descr': '|u1', 'fortran_order': False, 'shape': (4, 2), }".to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        npy.extend((h.len() as u16).to_le_bytes());
        npy.extend(h.as_bytes());
        npy.extend(&bytes);
        let u = dir.path().join("u.npy");
        std::fs::write(&u, npy).unwrap();
        let unit = load_data(&u, DataOptions::default()).unwrap();
        assert_eq!(unit.transform.u8, Some(U8Scale::Unit));
        let raw_u8 = DataOptions {
            raw_u8: true,
            ..Default::default()
        };
        let raw = load_data(&u, raw_u8).unwrap();
        assert!(load_for_model(&u, Some(&unit.transform), raw_u8, Units::Data).is_err());
        let got = load_for_model(
            &u,
            Some(&raw.transform),
            DataOptions::default(),
            Units::Data,
        )
        .unwrap();
        assert_eq!(got.x, raw.x, "a raw-u8 model reads u8 data raw by itself");
        let scaled = write(dir.path(), "s.csv", "a,b\n0.5,0.25\n1,0\n");
        assert!(load_for_model(
            &scaled,
            Some(&raw.transform),
            DataOptions::default(),
            Units::Data
        )
        .is_err());
        let bytes255 = write(dir.path(), "b.csv", "a,b\n255,0\n3,7\n");
        assert!(load_for_model(
            &bytes255,
            Some(&unit.transform),
            DataOptions::default(),
            Units::Data
        )
        .is_err());
        load_for_model(
            &scaled,
            Some(&unit.transform),
            DataOptions::default(),
            Units::Data,
        )
        .unwrap();
    }
}
