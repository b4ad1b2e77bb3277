//! YAML reading for specs and Kubernetes manifests: one parser configuration, errors with line and field path.
//!
//! meshproof parses YAML with `serde-saphyr`, configured to read manifests the way `kubectl`
//! (sigs.k8s.io/yaml on top of go-yaml v2) does: YAML 1.1 booleans (`yes`/`no`/`on`/`off`) and
//! legacy octal numbers are accepted, and duplicate keys are an error.

use std::collections::BTreeMap;
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

/// Deserialize one YAML document into `T`, reporting the failing field's path and line.
pub fn from_str<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, YamlError> {
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
        for item in parser {
            let Ok((event, span)) = item else { break };
            let line = span.start.line();
            match event {
                Event::DocumentEnd => break,
                Event::Scalar(value, ..) => match stack.last_mut() {
                    Some((Frame::Map { key }, base)) if key.is_none() => {
                        let path = join(base, &value);
                        lines.entry(path).or_insert(line);
                        *key = Some(value.to_string());
                    }
                    _ => {
                        if let Some(p) = child_path(&stack) {
                            lines.entry(p).or_insert(line);
                        }
                        finish_child(&mut stack);
                    }
                },
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let path = child_path(&stack).unwrap_or_default();
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
    fn multi_document_streams_skip_empty_documents() {
        let docs = documents("m.yaml", "---\na: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }
}
