//! Model, checkpoint and generator files in Hugging Face's safetensors format (f32 tensors and
//! string metadata): read through the `safetensors` crate, written by stein's own encoder
//! because the crate's writes the metadata map in a different order in each process, and
//! stein's files are deterministic byte for byte.
//!
//! The format: an 8-byte little-endian header length, a JSON header
//! `{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__":
//! {...}}` padded with spaces to a multiple of 8 bytes, then the raw little-endian data.
//! `safetensors.numpy.load_file` reads what this writes. The crate checks every size in a
//! header against the bytes before anything is allocated for the data; the messages for what
//! it refuses are stein's ([`Tensors::decode`]).
//!
//! Every file written here carries a checksum of its content in the metadata entry
//! [`CHECKSUM`], and [`Tensors::read`] verifies it when present, so a damaged model or
//! checkpoint is refused instead of used. Files from elsewhere (without the entry) are read
//! as they are.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use safetensors::{Dtype, SafeTensorError, SafeTensors};

/// The metadata entry holding the checksum: `fnv1a64:` and 16 hex digits, the 64-bit FNV-1a
/// hash of the content in this order: each other metadata entry by key (key, a 0 byte, value,
/// a 0 byte), then each tensor by name (name, a 0 byte, each dimension as a little-endian
/// u64, the values as little-endian f32).
pub const CHECKSUM: &str = "checksum";

/// 64-bit FNV-1a, fed in pieces.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Named f32 tensors with their shapes, plus string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tensors {
    /// name → (shape, values).
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// Free-form string metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Tensors {
    /// The checksum of the tensors and the metadata (all but a stored checksum), as
    /// [`CHECKSUM`] describes it.
    pub fn checksum(&self) -> String {
        let mut h = Fnv1a::new();
        for (key, value) in self.metadata.iter().filter(|(k, _)| *k != CHECKSUM) {
            h.feed(key.as_bytes());
            h.feed(&[0]);
            h.feed(value.as_bytes());
            h.feed(&[0]);
        }
        for (name, (shape, data)) in &self.tensors {
            h.feed(name.as_bytes());
            h.feed(&[0]);
            for &dim in shape {
                h.feed(&(dim as u64).to_le_bytes());
            }
            for v in data {
                h.feed(&v.to_le_bytes());
            }
        }
        format!("fnv1a64:{:016x}", h.0)
    }

    /// Checks the stored checksum, if there is one, against the content; an error says what
    /// differs.
    pub fn verify(&self) -> Result<()> {
        let Some(stored) = self.metadata.get(CHECKSUM) else {
            return Ok(());
        };
        if !stored.starts_with("fnv1a64:") {
            bail!("its checksum `{stored}` is of an unknown kind (this stein writes fnv1a64)");
        }
        let computed = self.checksum();
        if *stored != computed {
            bail!(
                "its content does not match the checksum stored with it ({stored}, computed {computed})"
            );
        }
        Ok(())
    }

    /// Encodes to bytes (tensors in name order), with the [`CHECKSUM`] entry of the content
    /// (replacing any stored one).
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
        let mut metadata = self.metadata.clone();
        metadata.insert(CHECKSUM.into(), self.checksum());
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(&metadata).unwrap_or_default(),
        );
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

    /// Reads a file of F32 tensors and verifies its checksum, if it has one.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "{}: cannot read the model file; check the path",
                path.display()
            )
        })?;
        let t = Self::decode(&bytes)
            .with_context(|| format!("{}: not a valid safetensors model", path.display()))?;
        if let Err(e) = t.verify() {
            bail!(
                "{} fails its integrity check ({e}): the file is damaged or was changed after stein wrote it; copy it again from its run directory or write it again",
                path.display()
            );
        }
        Ok(t)
    }

    /// Decodes bytes. The safetensors crate parses the header and checks every size in it
    /// against the bytes before anything is allocated for the data: the header length, each
    /// shape against its byte count (without overflow), and that the tensors tile the data
    /// exactly, as the format requires (no gaps, no overlaps, nothing after the last), so the
    /// tensors decoded never take more memory than the file.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (header_len, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| describe(e, bytes))?;
        let data = bytes.get(8 + header_len..).unwrap_or_default();
        let mut out = Tensors {
            metadata: header
                .metadata()
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Tensors::default()
        };
        // In the order of the data, so that a message names the same tensor every time.
        for name in header.offset_keys() {
            let Some(info) = header.info(&name) else {
                continue;
            };
            if info.dtype != Dtype::F32 {
                bail!(
                    "tensor `{name}` has dtype {}; only F32 is supported",
                    info.dtype
                );
            }
            let (begin, end) = info.data_offsets;
            let Some(bytes) = data.get(begin..end) else {
                bail!("tensor `{name}` has offsets [{begin}, {end}] outside the data");
            };
            let vals = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            out.tensors.insert(name, (info.shape.clone(), vals));
        }
        Ok(out)
    }
}

/// The crate's error on `bytes` in words that say what is wrong with the file.
fn describe(e: SafeTensorError, bytes: &[u8]) -> anyhow::Error {
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    match (e, header_len) {
        (SafeTensorError::HeaderTooSmall, _) | (_, None) => {
            anyhow!("file shorter than its 8-byte header length")
        }
        (SafeTensorError::HeaderTooLarge | SafeTensorError::InvalidHeaderLength, Some(n))
            if n.checked_add(8).is_none_or(|end| end > bytes.len() as u64) =>
        {
            anyhow!("header length {n} past the end of the file")
        }
        (SafeTensorError::HeaderTooLarge, Some(n)) => {
            anyhow!("header length {n} is over the 100 MB the format allows")
        }
        (SafeTensorError::InvalidOffset(name), _) => anyhow!(
            "tensor `{name}` does not start where the previous one ends; tensors must not overlap or leave gaps"
        ),
        (SafeTensorError::TensorInvalidInfo, _) => {
            anyhow!("a tensor's byte count does not match its dtype and shape; the file is corrupt")
        }
        (SafeTensorError::ValidationOverflow, _) => {
            anyhow!("a tensor's shape holds more elements than can be counted; the file is corrupt")
        }
        (SafeTensorError::MetadataIncompleteBuffer, Some(n)) => anyhow!(
            "the tensors do not cover the file's {} bytes of data exactly; the file is corrupt",
            (bytes.len() as u64).saturating_sub(8).saturating_sub(n)
        ),
        // Its own words (invalid UTF-8 or JSON in the header), without the source error that
        // its words already include.
        (e, _) => anyhow!("{e}"),
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
        let mut back = Tensors::decode(&bytes).unwrap();
        back.verify().unwrap();
        assert!(back
            .metadata
            .remove(CHECKSUM)
            .unwrap()
            .starts_with("fnv1a64:"));
        assert_eq!(back, t);
        let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(hlen % 8, 0);
        assert!(Tensors::decode(&bytes[..bytes.len() - 4]).is_err());
        assert!(Tensors::decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn the_checksum_catches_a_changed_value_name_shape_or_entry() {
        let mut t = Tensors::default();
        t.tensors
            .insert("theta".into(), (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        t.metadata.insert("step".into(), "200".into());
        let bytes = t.encode();
        let good = Tensors::decode(&bytes).unwrap();
        good.verify().unwrap();
        // One flipped bit of the last value.
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let e = format!(
            "{:#}",
            Tensors::decode(&flipped).unwrap().verify().unwrap_err()
        );
        assert!(e.contains("does not match the checksum"), "{e}");
        // A changed entry, shape or name (the stored checksum kept).
        let changes: [&dyn Fn(&mut Tensors); 3] = [
            &|t| {
                t.metadata.insert("step".into(), "300".into());
            },
            &|t| t.tensors.get_mut("theta").unwrap().0 = vec![4, 1],
            &|t| {
                let v = t.tensors.remove("theta").unwrap();
                t.tensors.insert("thetb".into(), v);
            },
        ];
        for change in changes {
            let mut c = good.clone();
            change(&mut c);
            assert!(c.verify().is_err());
        }
        // Without a checksum (a file from elsewhere): read as it is.
        let mut none = good.clone();
        none.metadata.remove(CHECKSUM);
        none.verify().unwrap();
        let mut other = good;
        other.metadata.insert(CHECKSUM.into(), "md5:00".into());
        assert!(format!("{:#}", other.verify().unwrap_err()).contains("unknown kind"));
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
        assert!(err.contains("more elements than can be counted"), "{err}");
        // A byte count that does not match the shape.
        let t = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
        let err = format!("{:#}", Tensors::decode(&raw(t, &[0; 8])).unwrap_err());
        assert!(err.contains("does not match its dtype and shape"), "{err}");
        // Another dtype.
        let t = r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#;
        let err = format!("{:#}", Tensors::decode(&raw(t, &[0; 8])).unwrap_err());
        assert!(err.contains("has dtype F64; only F32"), "{err}");
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
            err.contains("do not cover the file's 8 bytes of data exactly"),
            "{err}"
        );
        assert!(Tensors::decode(&raw(t, &[0; 4])).is_ok());
        // Not JSON: the parser's words, once.
        let err = format!("{:#}", Tensors::decode(&raw("{\"a\":", &[])).unwrap_err());
        assert!(err.starts_with("invalid JSON in header: EOF"), "{err}");
        assert_eq!(err.matches("EOF").count(), 1, "{err}");
    }
}
