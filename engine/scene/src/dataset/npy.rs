//! A reader for NumPy `.npy` files holding one float array (`f8` or `f4`, either byte order,
//! C or Fortran order), enough for LLFF's `poses_bounds.npy`.

use super::error::DatasetError;
use std::path::Path;

/// A float array in C (row-major) order, widened to f64.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

pub fn read_npy(path: &Path) -> Result<NpyArray, DatasetError> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    parse_npy(&bytes, path)
}

/// Parses the bytes of a `.npy` file; `path` only names the file in errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray, DatasetError> {
    let bad = |msg: String| DatasetError::malformed(path, msg);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (header_len, header_start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(DatasetError::truncated(path, "header length cut off"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let data_start = header_start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| {
            DatasetError::truncated(
                path,
                format!(
                    "header of {header_len} bytes announced, file has {} bytes",
                    bytes.len()
                ),
            )
        })?;
    let header = std::str::from_utf8(&bytes[header_start..data_start])
        .map_err(|_| bad("header is not text".into()))?;

    let descr = dict_value(header, "descr")
        .ok_or_else(|| bad(format!("no 'descr' in header {header:?}")))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (big_endian, size) = match descr {
        "<f8" | "=f8" | "|f8" => (false, 8),
        ">f8" => (true, 8),
        "<f4" | "=f4" | "|f4" => (false, 4),
        ">f4" => (true, 4),
        other => {
            return Err(bad(format!(
                "dtype {other} is not supported (need f8 or f4)"
            )))
        }
    };
    let fortran = match dict_value(header, "fortran_order") {
        Some("False") | None => false,
        Some("True") => true,
        Some(other) => return Err(bad(format!("fortran_order {other:?} is not True or False"))),
    };
    let shape_text = dict_value(header, "shape")
        .ok_or_else(|| bad(format!("no 'shape' in header {header:?}")))?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| bad(format!("shape {shape_text:?} is not a tuple")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad(format!("shape {shape_text:?} is not a tuple of sizes")))?;

    let count = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let available = bytes.len() - data_start;
    if count.checked_mul(size).is_none_or(|n| n > available) {
        return Err(DatasetError::truncated(
            path,
            format!("shape {shape:?} needs {count}×{size} bytes of data, file has {available}"),
        ));
    }
    let raw = &bytes[data_start..data_start + count * size];
    let mut data: Vec<f64> = raw
        .chunks_exact(size)
        .map(|c| match (size, big_endian) {
            (8, false) => f64::from_le_bytes(c.try_into().unwrap()),
            (8, true) => f64::from_be_bytes(c.try_into().unwrap()),
            (_, false) => f32::from_le_bytes(c.try_into().unwrap()) as f64,
            (_, true) => f32::from_be_bytes(c.try_into().unwrap()) as f64,
        })
        .collect();
    if fortran && shape.len() > 1 {
        // Column-major → row-major.
        let mut c_order = vec![0.0; count];
        let mut idx = vec![0usize; shape.len()];
        for v in data.iter() {
            let mut flat = 0;
            for (d, &i) in idx.iter().enumerate() {
                flat = flat * shape[d] + i;
            }
            c_order[flat] = *v;
            // Fortran order: the first index varies fastest.
            for d in 0..shape.len() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        data = c_order;
    }
    Ok(NpyArray { shape, data })
}

/// The text of a value in the header's Python dict literal, e.g. `'<f8'`, `False`, `(20, 17)`.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
        rest[1..].find(q)? + 2
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a version-1 .npy file the way NumPy does.
    pub(crate) fn npy_bytes(
        descr: &str,
        fortran: bool,
        shape: &[usize],
        payload: &[u8],
    ) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let fo = if fortran { "True" } else { "False" };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': {fo}, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_f8_f4_and_fortran_order() {
        let p = Path::new("x.npy");
        let vals = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let le: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = parse_npy(&npy_bytes("<f8", false, &[2, 3], &le), p).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vals);
        let f4: Vec<u8> = vals
            .iter()
            .flat_map(|v| (*v as f32).to_le_bytes())
            .collect();
        assert_eq!(
            parse_npy(&npy_bytes("<f4", false, &[2, 3], &f4), p)
                .unwrap()
                .data,
            vals
        );
        // Fortran order: memory holds columns [1,4], [2,5], [3,6].
        let cols = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0];
        let fb: Vec<u8> = cols.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            parse_npy(&npy_bytes("<f8", true, &[2, 3], &fb), p)
                .unwrap()
                .data,
            vals
        );
    }

    #[test]
    fn rejects_truncated_and_foreign_files() {
        let p = Path::new("poses_bounds.npy");
        let short = npy_bytes("<f8", false, &[1000000, 17], &[0u8; 16]);
        let e = parse_npy(&short, p).unwrap_err().to_string();
        assert!(
            e.contains("poses_bounds.npy") && e.contains("truncated"),
            "{e}"
        );
        let e = parse_npy(b"hello world, not numpy", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("magic"), "{e}");
        let e = parse_npy(&npy_bytes("<i8", false, &[1], &[0u8; 8]), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("i8"), "{e}");
        // A shape whose element count overflows must not allocate.
        let huge = npy_bytes("<f8", false, &[usize::MAX / 2, 4], &[]);
        assert!(parse_npy(&huge, p).is_err());
    }
}
