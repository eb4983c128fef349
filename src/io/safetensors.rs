//! Minimal writer and reader of Hugging Face's safetensors format for f32
//! tensors: 8-byte little-endian header length, a JSON header
//! `{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__":
//! {...}}`, then the raw little-endian data. `safetensors.numpy.load_file` reads what this
//! writes.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

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

    /// Decodes bytes. Every size in the header is checked against the bytes before anything
    /// is allocated, and the tensors must tile the data exactly, as the format requires (no
    /// gaps, no overlaps, nothing after the last), so the tensors decoded never take more
    /// memory than the file.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 8 {
            bail!("file shorter than its 8-byte header length");
        }
        let hlen = u64::from_le_bytes(bytes[..8].try_into()?);
        let Some(header_end) = usize::try_from(hlen)
            .ok()
            .and_then(|h| h.checked_add(8))
            .filter(|&end| end <= bytes.len())
        else {
            bail!("header length {hlen} past the end of the file");
        };
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..header_end])?;
        let data = &bytes[header_end..];
        let mut out = Tensors::default();
        // (begin, end, name, shape) of each tensor, checked to tile the data before decoding.
        let mut spans = Vec::new();
        for (name, v) in header {
            if name == "__metadata__" {
                out.metadata = serde_json::from_value(v)?;
                continue;
            }
            let dtype = v["dtype"].as_str().unwrap_or("");
            if dtype != "F32" {
                bail!("tensor `{name}` has dtype {dtype}; only F32 is supported");
            }
            // Read in place: a clone of a long list would double the header's memory.
            let shape = Vec::<usize>::deserialize(&v["shape"])?;
            let offs = Vec::<usize>::deserialize(&v["data_offsets"])?;
            if offs.len() != 2 || offs[0] > offs[1] || offs[1] > data.len() {
                bail!("tensor `{name}` has offsets {offs:?} outside the data");
            }
            let bytes_needed = shape.iter().try_fold(4usize, |acc, &n| acc.checked_mul(n));
            if bytes_needed != Some(offs[1] - offs[0]) {
                bail!(
                    "tensor `{name}` has {} bytes for shape {shape:?}",
                    offs[1] - offs[0]
                );
            }
            spans.push((offs[0], offs[1], name, shape));
        }
        spans.sort_by_key(|&(begin, end, ..)| (begin, end));
        let mut at = 0;
        for (begin, end, name, _) in &spans {
            if *begin != at {
                bail!(
                    "tensor `{name}` starts at byte {begin} of the data, not at {at} where the previous one ends; tensors must not overlap or leave gaps"
                );
            }
            at = *end;
        }
        if at != data.len() {
            bail!(
                "the tensors cover {at} bytes of data but the file holds {}; the file is corrupt",
                data.len()
            );
        }
        for (begin, end, name, shape) in spans {
            let vals = data[begin..end]
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

    /// A file whose header is `json`, padded, followed by `data`.
    fn raw(json: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend(json.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn sizes_from_the_header_are_checked_before_use() {
        // A header length near 2^64 once wrapped 8 + len to a small number and panicked.
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend(b"{}");
        let err = format!("{:#}", Tensors::decode(&bytes).unwrap_err());
        assert!(err.contains("past the end of the file"), "{err}");
        // A shape whose element count overflows once matched an empty slice.
        let t = r#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#;
        let err = format!("{:#}", Tensors::decode(&raw(t, &[])).unwrap_err());
        assert!(err.contains("has 0 bytes for shape"), "{err}");
        // Tensors sharing one stretch of data once each got a copy of it: a file of n tensors
        // over the same bytes decoded to n times its size.
        let t = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let err = format!("{:#}", Tensors::decode(&raw(t, &[0; 8])).unwrap_err());
        assert!(err.contains("must not overlap"), "{err}");
        // A gap, and bytes after the last tensor.
        let t = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert!(Tensors::decode(&raw(t, &[0; 8])).is_err());
        let t = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let err = format!("{:#}", Tensors::decode(&raw(t, &[0; 8])).unwrap_err());
        assert!(
            err.contains("cover 4 bytes of data but the file holds 8"),
            "{err}"
        );
        assert!(Tensors::decode(&raw(t, &[0; 4])).is_ok());
    }
}
