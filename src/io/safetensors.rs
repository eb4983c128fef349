//! Minimal writer and reader of Hugging Face's safetensors format for f32
//! tensors: 8-byte little-endian header length, a JSON header
//! `{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__":
//! {...}}`, then the raw little-endian data. `safetensors.numpy.load_file` reads what this
//! writes.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Named f32 tensors with their shapes, plus string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tensors {
    /// name → (shape, values).
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// Free-form string metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Tensors {
    /// Encodes to bytes (tensors in name order).
    pub fn encode(&self) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut offset = 0usize;
        for (name, (shape, data)) in &self.tensors {
            let end = offset + 4 * data.len();
            header.insert(
                name.clone(),
                serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
            );
            offset = end;
        }
        if !self.metadata.is_empty() {
            header.insert(
                "__metadata__".into(),
                serde_json::to_value(&self.metadata).unwrap_or_default(),
            );
        }
        let mut h = serde_json::Value::Object(header).to_string().into_bytes();
        while !h.len().is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend(h);
        for (_, data) in self.tensors.values() {
            for v in data {
                out.extend(v.to_le_bytes());
            }
        }
        out
    }

    /// Writes atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        super::write_atomic(path, &self.encode())
    }

    /// Reads a file of F32 tensors.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "{}: cannot read the model file; check the path",
                path.display()
            )
        })?;
        Self::decode(&bytes)
            .with_context(|| format!("{}: not a valid safetensors model", path.display()))
    }

    /// Decodes bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 8 {
            bail!("file shorter than its 8-byte header length");
        }
        let hlen = u64::from_le_bytes(bytes[..8].try_into()?) as usize;
        if 8 + hlen > bytes.len() {
            bail!("header length {hlen} past the end of the file");
        }
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..8 + hlen])?;
        let data = &bytes[8 + hlen..];
        let mut out = Tensors::default();
        for (name, v) in header {
            if name == "__metadata__" {
                out.metadata = serde_json::from_value(v)?;
                continue;
            }
            let dtype = v["dtype"].as_str().unwrap_or("");
            if dtype != "F32" {
                bail!("tensor `{name}` has dtype {dtype}; only F32 is supported");
            }
            let shape: Vec<usize> = serde_json::from_value(v["shape"].clone())?;
            let offs: Vec<usize> = serde_json::from_value(v["data_offsets"].clone())?;
            if offs.len() != 2 || offs[0] > offs[1] || offs[1] > data.len() {
                bail!("tensor `{name}` has offsets {offs:?} outside the data");
            }
            let raw = &data[offs[0]..offs[1]];
            if raw.len() != 4 * shape.iter().product::<usize>() {
                bail!(
                    "tensor `{name}` has {} bytes for shape {shape:?}",
                    raw.len()
                );
            }
            let vals = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            out.tensors.insert(name, (shape, vals));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let mut t = Tensors::default();
        t.tensors
            .insert("B".into(), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]));
        t.tensors
            .insert("c".into(), (vec![3], vec![-1.0, 0.0, 1.0]));
        t.metadata.insert("model".into(), "grbm".into());
        let bytes = t.encode();
        assert_eq!(Tensors::decode(&bytes).unwrap(), t);
        let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(hlen % 8, 0);
        assert!(Tensors::decode(&bytes[..bytes.len() - 4]).is_err());
        assert!(Tensors::decode(&[1, 2, 3]).is_err());
    }
}
