//! YAML reading for specs and Kubernetes manifests: one parser configuration, errors with line and field path.
//!
//! meshproof parses YAML with `serde-saphyr`, configured to read manifests the way `kubectl`
//! (sigs.k8s.io/yaml on top of go-yaml v2) does: YAML 1.1 booleans (`yes`/`no`/`on`/`off`) and
//! legacy octal numbers are accepted, and duplicate keys are an error.
//!
//! Every read is bounded (YAML can come from a hostile bundle): the text's size, what it expands
//! to through aliases ([`check_bounds`], one linear pass before serde builds anything), the
//! parser's own budget (nodes, depth, events) and the line index's memory.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser};
use serde_saphyr::{DuplicateKeyPolicy, Options};

/// A YAML problem located in a file: `file:line: field.path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub file: String,
    pub line: Option<usize>,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for YamlError {}

/// The parser options every YAML read in meshproof uses.
pub fn options() -> Options {
    let mut o = Options::default();
    o.duplicate_keys = DuplicateKeyPolicy::Error;
    o.legacy_octal_numbers = true;
    o.strict_booleans = false;
    o.with_snippet = false;
    o
}

/// Largest YAML text meshproof parses (specs, manifests, Helm repository indexes, a bundle's
/// inputs).
pub const MAX_YAML_BYTES: usize = 32 << 20;
/// Most bytes a YAML stream may expand to (scalar bytes plus [`NODE_COST`] per node, aliases
/// counted as often as they are used).
pub const MAX_EXPANDED_BYTES: u64 = 64 << 20;
/// What one node (scalar, sequence, mapping or alias) counts against [`MAX_EXPANDED_BYTES`]:
/// about what a `serde_json::Value` costs.
pub const NODE_COST: u64 = 64;
/// Most bytes of field paths the line index keeps; beyond, lines resolve to an ancestor's.
pub const MAX_INDEX_BYTES: usize = 8 << 20;

fn bound_error(file: &str, line: Option<usize>, message: String) -> YamlError {
    YamlError {
        file: file.to_string(),
        line,
        path: String::new(),
        message,
    }
}

/// Refuse YAML whose text is too large or that expands beyond [`MAX_EXPANDED_BYTES`] through
/// aliases (`&a [...]` used as `*a` again and again: "billion laughs"). One pass over the
/// parser's events, linear in the text; syntax errors are left to the deserializer to report.
pub fn check_bounds(file: &str, text: &str) -> Result<(), YamlError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(bound_error(
            file,
            None,
            format!(
                "{} bytes, more than the {} MiB meshproof reads from one YAML file",
                text.len(),
                MAX_YAML_BYTES >> 20
            ),
        ));
    }
    // Expanded size of each anchored node, and of each open collection so far.
    let mut anchors: HashMap<usize, u64> = HashMap::new();
    let mut open: Vec<(usize, u64)> = Vec::new();
    let mut total: u64 = 0;
    let mut aliases = false;
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        // (weight added to the stream, weight added to the enclosing collection)
        let (added, to_parent) = match event {
            Event::Scalar(ref v, _, anchor, _) => {
                let w = NODE_COST.saturating_add(v.len() as u64);
                if anchor != 0 {
                    anchors.insert(anchor, w);
                }
                (w, w)
            }
            Event::Alias(id) => {
                aliases = true;
                let w = anchors.get(&id).copied().unwrap_or(NODE_COST);
                (w, w)
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                open.push((anchor, NODE_COST));
                (NODE_COST, 0)
            }
            Event::SequenceEnd | Event::MappingEnd => match open.pop() {
                Some((anchor, size)) => {
                    if anchor != 0 {
                        anchors.insert(anchor, size);
                    }
                    (0, size)
                }
                None => (0, 0),
            },
            _ => (0, 0),
        };
        total = total.saturating_add(added);
        if let Some((_, inner)) = open.last_mut() {
            *inner = inner.saturating_add(to_parent);
        }
        if total > MAX_EXPANDED_BYTES {
            let why = if aliases {
                "through aliases (`*name` repeating an anchored node)"
            } else {
                "(too many nodes)"
            };
            return Err(bound_error(
                file,
                Some(span.start.line()).filter(|l| *l > 0),
                format!(
                    "expands to more than {} MiB {why}; meshproof refuses such YAML",
                    MAX_EXPANDED_BYTES >> 20
                ),
            ));
        }
    }
    Ok(())
}

/// Deserialize one YAML document into `T`, reporting the failing field's path and line.
pub fn from_str<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, YamlError> {
    check_bounds(file, text)?;
    let mut failed_path: Option<String> = None;
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            failed_path = Some(if path == "." { String::new() } else { path });
            e.into_inner()
        })
    });
    result.map_err(|e| {
        // serde_path_to_error writes `?` for a key it could not name (syntax errors, duplicates).
        let path = failed_path
            .unwrap_or_default()
            .split('.')
            .filter(|seg| *seg != "?")
            .collect::<Vec<_>>()
            .join(".");
        let index = LineIndex::new(text);
        let line = e
            .location()
            .map(|l| l.line() as usize)
            .filter(|l| *l > 0)
            .or_else(|| index.line_of(&path));
        YamlError {
            file: file.to_string(),
            line,
            path,
            message: clean_message(&e.to_string()),
        }
    })
}

/// Parse a multi-document YAML stream into JSON values, skipping empty documents.
pub fn documents(file: &str, text: &str) -> Result<Vec<serde_json::Value>, YamlError> {
    check_bounds(file, text)?;
    let docs: Vec<Option<serde_json::Value>> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(|e| YamlError {
            file: file.to_string(),
            line: e.location().map(|l| l.line() as usize).filter(|l| *l > 0),
            path: String::new(),
            message: clean_message(&e.to_string()),
        })?;
    Ok(docs
        .into_iter()
        .flatten()
        .filter(|d| !d.is_null())
        .collect())
}

/// Read a file and deserialize it; I/O errors become a `YamlError` without a line.
pub fn read_file<T: DeserializeOwned>(path: &Path, shown_as: &str) -> Result<T, YamlError> {
    let text = std::fs::read_to_string(path).map_err(|e| YamlError {
        file: shown_as.to_string(),
        line: None,
        path: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    from_str(shown_as, &text)
}

/// Strip a trailing location that some parser messages carry, so the message reads once.
fn clean_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let re = regex::Regex::new(r"\s*at line \d+,? column \d+\.?$").expect("static regex");
    let msg = re.replace(first, "").to_string();
    // Say it in the user's terms rather than the parser's.
    let msg = msg.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    match msg.as_str() {
        "expected string scalar" => "expected a string".to_string(),
        "invalid u16" => "expected a whole number from 0 to 65535".to_string(),
        "invalid u32" => "expected a whole number from 0 to 4294967295".to_string(),
        _ => msg,
    }
}

/// Maps dotted field paths (`spec.nodes[0].role`) of the first document to the line of the key.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: BTreeMap<String, usize>,
}

enum Frame {
    Map { key: Option<String> },
    Seq { index: usize },
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut lines = BTreeMap::new();
        let mut stack: Vec<(Frame, String)> = Vec::new();
        let parser = Parser::new_from_str(text);
        // Path of the node that is about to start, given the enclosing frames.
        fn child_path(stack: &[(Frame, String)]) -> Option<String> {
            match stack.last() {
                None => Some(String::new()),
                Some((Frame::Map { key: Some(k) }, base)) => Some(join(base, k)),
                Some((Frame::Map { key: None }, _)) => None,
                Some((Frame::Seq { index }, base)) => Some(format!("{base}[{index}]")),
            }
        }
        fn join(base: &str, key: &str) -> String {
            if base.is_empty() {
                key.to_string()
            } else {
                format!("{base}.{key}")
            }
        }
        fn finish_child(stack: &mut [(Frame, String)]) {
            match stack.last_mut() {
                Some((Frame::Map { key }, _)) => *key = None,
                Some((Frame::Seq { index }, _)) => *index += 1,
                None => {}
            }
        }
        // Paths are kept whole, so deep documents with long keys cost more than their text:
        // stop indexing once the paths kept reach MAX_INDEX_BYTES (lines of later fields then
        // resolve to the nearest indexed ancestor, or none).
        let mut kept: usize = 0;
        for item in parser {
            let Ok((event, span)) = item else { break };
            if kept > MAX_INDEX_BYTES {
                break;
            }
            let line = span.start.line();
            match event {
                Event::DocumentEnd => break,
                Event::Scalar(value, ..) => match stack.last_mut() {
                    Some((Frame::Map { key }, base)) if key.is_none() => {
                        let path = join(base, &value);
                        kept += path.len() + value.len();
                        lines.entry(path).or_insert(line);
                        *key = Some(value.to_string());
                    }
                    _ => {
                        if let Some(p) = child_path(&stack) {
                            kept += p.len();
                            lines.entry(p).or_insert(line);
                        }
                        finish_child(&mut stack);
                    }
                },
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let path = child_path(&stack).unwrap_or_default();
                    kept += 2 * path.len();
                    lines.entry(path.clone()).or_insert(line);
                    let frame = if matches!(event, Event::MappingStart(..)) {
                        Frame::Map { key: None }
                    } else {
                        Frame::Seq { index: 0 }
                    };
                    stack.push((frame, path));
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    finish_child(&mut stack);
                }
                Event::Alias(_) => finish_child(&mut stack),
                _ => {}
            }
        }
        LineIndex { lines }
    }

    /// The line of `path`, or of its nearest ancestor present in the document.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path.to_string();
        loop {
            if let Some(l) = self.lines.get(&p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_finds_nested_keys_and_sequence_items() {
        let text = "a: 1\nspec:\n  nodes:\n    - role: x\n    - role: y\n  name: z\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line_of("a"), Some(1));
        assert_eq!(idx.line_of("spec.nodes[1].role"), Some(5));
        assert_eq!(idx.line_of("spec.name"), Some(6));
        assert_eq!(idx.line_of("spec.nodes[1].missing"), Some(5));
    }

    #[test]
    fn yaml_1_1_booleans_and_octal_read_like_kubectl() {
        let v: serde_json::Value = from_str("t.yaml", "a: yes\nb: 0755\n").unwrap();
        assert_eq!(v["a"], serde_json::json!(true));
        assert_eq!(v["b"], serde_json::json!(493));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let e = from_str::<serde_json::Value>("t.yaml", "a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn alias_bombs_are_refused_before_deserializing() {
        // Ten levels of ten aliases each: 10^10 leaves once expanded.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = from_str::<serde_json::Value>("bomb.yaml", &text).unwrap_err();
        assert!(e.message.contains("through aliases"), "{e}");
        assert!(e.to_string().starts_with("bomb.yaml:"), "{e}");
        // One big anchored scalar repeated: no deep nesting needed.
        let big = "y".repeat(1 << 20);
        let mut text = format!("a: &big {big}\nb: [");
        text.push_str(&"*big, ".repeat(100));
        text.push_str("]\n");
        let e = documents("big.yaml", &text).unwrap_err();
        assert!(e.message.contains("through aliases"), "{e}");
        // Modest use of anchors is fine.
        let ok = "base: &b {x: 1}\nuse: *b\n";
        let v: serde_json::Value = from_str("ok.yaml", ok).unwrap();
        assert_eq!(v["use"]["x"], serde_json::json!(1));
    }

    #[test]
    fn oversize_yaml_is_refused_by_size() {
        let text = "- a\n".repeat(MAX_YAML_BYTES / 4 + 1);
        let e = documents("big.yaml", &text).unwrap_err();
        assert!(e.message.contains("more than the 32 MiB"), "{e}");
    }

    #[test]
    fn the_line_index_stays_bounded_on_deep_long_keys() {
        // 60 levels of 1000-byte keys, then many leaves: whole paths would be ~60 KB each.
        let key = "k".repeat(1000);
        let mut text = String::new();
        for d in 0..60 {
            text.push_str(&format!("{}{key}{d}:\n", "  ".repeat(d)));
        }
        for i in 0..2000 {
            text.push_str(&format!("{}l{i}: 1\n", "  ".repeat(60)));
        }
        let idx = LineIndex::new(&text);
        let kept: usize = idx.lines.keys().map(String::len).sum();
        assert!(kept <= 2 * MAX_INDEX_BYTES, "{kept}");
        assert_eq!(idx.line_of(&format!("{key}0")), Some(1));
    }

    #[test]
    fn multi_document_streams_skip_empty_documents() {
        let docs = documents("m.yaml", "---\na: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }
}
