//! Bounded JSON reading of bundle files: one linear pre-scan checks nesting depth and the number
//! of values before serde builds anything, so a small file cannot expand into gigabytes.

use serde::de::DeserializeOwned;

use super::BundleError;

/// Deepest nesting of arrays and objects accepted in a bundle's JSON.
pub const MAX_DEPTH: usize = 64;
/// Most JSON values (objects, arrays, members and elements) in one file.
pub const MAX_VALUES: u64 = 1_000_000;
/// Most JSON values in all the files one command parses together (the observations).
pub const MAX_TOTAL_VALUES: u64 = 2_000_000;

/// The shape of a JSON text as far as memory goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Upper bound of the values serde will build: every `{`, `[`, `,` and `:`, plus one.
    pub values: u64,
    pub depth: usize,
}

/// Count values and nesting depth in one pass (strings skipped, escapes honoured). Stops at
/// the first limit exceeded; the text need not be valid JSON (serde reports that afterwards).
pub fn shape(file: &str, bytes: &[u8]) -> Result<Shape, BundleError> {
    let mut values: u64 = 1;
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                values += 1;
                max_depth = max_depth.max(depth);
                if depth > MAX_DEPTH {
                    return Err(limit(file, format!("nests deeper than {MAX_DEPTH} levels")));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' | b':' => {
                values += 1;
                if values > MAX_VALUES {
                    return Err(limit(file, format!("holds more than {MAX_VALUES} values")));
                }
            }
            _ => {}
        }
    }
    Ok(Shape {
        values,
        depth: max_depth,
    })
}

fn limit(file: &str, reason: String) -> BundleError {
    BundleError::Limit {
        entry: file.to_string(),
        reason: format!("JSON {reason}"),
    }
}

/// Deserialize a bundle's JSON file after [`shape`] accepted it; errors name the file and line.
pub fn parse<T: DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, BundleError> {
    shape(file, bytes)?;
    serde_json::from_slice(bytes).map_err(|e| BundleError::Integrity {
        file: format!("{file}:{}", e.line()),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_counts_values_and_depth_outside_strings() {
        let s = shape("f", br#"{"a": [1, 2, {"b": "x,y:[{"}], "c\"": 3}"#).unwrap();
        assert_eq!(s.depth, 3);
        // { [ , , { : } ] , : } → 2 objects, 1 array, 2 commas, 3 colons... plus one.
        assert_eq!(s.values, 1 + 3 + 3 + 3);
    }

    #[test]
    fn deep_and_wide_json_is_refused_before_parsing() {
        let deep = "[".repeat(MAX_DEPTH + 1);
        let e = shape("deep.json", deep.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("deep.json") && e.to_string().contains("nests deeper"));
        let wide = format!("[{}0]", "0,".repeat(MAX_VALUES as usize));
        let e = shape("wide.json", wide.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("more than 1000000 values"), "{e}");
    }
}
