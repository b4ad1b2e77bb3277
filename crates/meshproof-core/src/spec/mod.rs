//! Versioned input schemas (`meshproof.dev/v1alpha1`): load → default → validate for clusters, meshes, workloads and cases.
//!
//! Every spec file is a YAML document with `apiVersion`, `kind`, `metadata` and `spec`. Unknown
//! fields are errors; every error names the file, the line and the offending field.

pub mod case;
pub mod catalog;
pub mod cluster;
pub mod mesh;
pub mod workload;

use serde::Deserialize;

use crate::yaml::{LineIndex, YamlError};

/// The one API version of every meshproof input file.
pub const API_VERSION: &str = "meshproof.dev/v1alpha1";

/// Errors of the spec layer. Every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown {what} `{name}`; available: {available}")]
    NotFound {
        what: &'static str,
        name: String,
        available: String,
    },
    #[error("{0}")]
    Invalid(String),
    /// Several problems in one file, in line order.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<YamlError>),
}

/// The common header of every spec document.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Document<S> {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub description: String,
}

/// Collects semantic validation problems with their line numbers.
#[derive(Debug)]
pub struct Validator<'a> {
    file: &'a str,
    index: LineIndex,
    problems: Vec<YamlError>,
}

impl<'a> Validator<'a> {
    pub fn new(file: &'a str, text: &str) -> Self {
        Validator {
            file,
            index: LineIndex::new(text),
            problems: Vec::new(),
        }
    }

    /// Record a problem at a field path.
    pub fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(YamlError {
            file: self.file.to_string(),
            line: self.index.line_of(path),
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub fn check(&mut self, ok: bool, path: &str, message: impl Into<String>) {
        if !ok {
            self.problem(path, message);
        }
    }

    /// The problems found so far, in line order (to combine problems of several files).
    pub fn into_problems(mut self) -> Vec<YamlError> {
        self.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        self.problems
    }

    /// Every problem found, in line order.
    pub fn finish(mut self) -> Result<(), SpecError> {
        self.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        match self.problems.len() {
            0 => Ok(()),
            1 => Err(SpecError::Yaml(self.problems.remove(0))),
            _ => Err(SpecError::Many(self.problems)),
        }
    }
}

impl SpecError {
    /// Problems of several files as one error (`Ok` when there are none), ordered by file and line.
    pub fn from_problems(mut problems: Vec<YamlError>) -> Result<(), SpecError> {
        problems.sort_by(|a, b| {
            (&a.file, a.line.unwrap_or(usize::MAX)).cmp(&(&b.file, b.line.unwrap_or(usize::MAX)))
        });
        match problems.len() {
            0 => Ok(()),
            1 => Err(SpecError::Yaml(problems.remove(0))),
            _ => Err(SpecError::Many(problems)),
        }
    }
}

/// Parse a spec document and check its header.
pub fn parse<S: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    kind: &str,
) -> Result<Document<S>, SpecError> {
    // Check the header first so a wrong kind is reported as such, not as a field error.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Header {
        api_version: Option<serde_json::Value>,
        kind: Option<serde_json::Value>,
    }
    let header: Header = crate::yaml::from_str(file, text)?;
    let mut v = Validator::new(file, text);
    match header.api_version {
        Some(serde_json::Value::String(a)) if a == API_VERSION => {}
        Some(other) => v.problem(
            "apiVersion",
            format!("expected `{API_VERSION}`, found {}", short(&other)),
        ),
        None => v.problem("apiVersion", format!("missing; expected `{API_VERSION}`")),
    }
    match header.kind {
        Some(serde_json::Value::String(k)) if k == kind => {}
        Some(other) => v.problem(
            "kind",
            format!("expected `{kind}`, found {}", short(&other)),
        ),
        None => v.problem("kind", format!("missing; expected `{kind}`")),
    }
    v.finish()?;
    Ok(crate::yaml::from_str(file, text)?)
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..60])
    } else {
        s
    }
}

/// A relative path without `..`, absolute parts or empty segments.
pub fn is_relative_file(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains('\\'))
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, as Kubernetes names (and our file names) require.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A pin name: lowercase letters, digits, `-` and `.` (`kind-v0.32.0`).
pub fn is_pin_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(is_sha256_hex)
}

/// 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
