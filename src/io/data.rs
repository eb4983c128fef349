//! Training and evaluation data: `.npy` (f32, f64 or u8, shape [N, d]; u8 scaled by 1/255
//! unless asked otherwise) or CSV with a header row of numeric columns, optionally
//! standardised. Every error names the file and says what to do.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::npy::{read_npy, NpyData};

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

/// Reads `.npy` or `.csv` by extension.
pub fn load_data(path: &Path, opts: DataOptions) -> Result<Data> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (mut x, n, d) = match ext.as_str() {
        "npy" => read_npy_data(path, opts)?,
        "csv" => read_csv(path)?,
        _ => bail!(
            "{}: unknown data format; give a .npy array [N, d] or a .csv file with a header row",
            path.display()
        ),
    };
    if n == 0 || d == 0 {
        bail!(
            "{}: the data is empty (shape [{n}, {d}]); give at least one row and one column",
            path.display()
        );
    }
    if let Some(e) = x.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: row {}, column {} is {}; remove or impute missing values first",
            path.display(),
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
                    path.display()
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

fn read_npy_data(path: &Path, opts: DataOptions) -> Result<(Vec<f32>, usize, usize)> {
    let a = read_npy(path)?;
    if a.shape.len() != 2 {
        bail!(
            "{}: data must be a 2-D array [N, d], got shape {:?}; reshape it, e.g. x.reshape(len(x), -1)",
            path.display(),
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

fn read_csv(path: &Path) -> Result<(Vec<f32>, usize, usize)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the file; check the path", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().with_context(|| {
        format!(
            "{}: the file is empty; give a header row and data rows",
            path.display()
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
                path.display(),
                r + 1,
                cells.len()
            );
        }
        for (c, cell) in cells.iter().enumerate() {
            let v: f32 = cell.trim().trim_matches('"').parse().map_err(|_| {
                anyhow::anyhow!(
                    "{}: row {}, column {c} (`{}`) is not a number; give numeric columns only",
                    path.display(),
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
