//! The expectation vocabulary shared by specs, plan, suite and verdicts: capabilities (what a
//! pin expects and a case earns) and scoring modes. Below all of them, so none imports another
//! to name an expectation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
pub enum Capability {
    None,
    Partial,
    Full,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::None => "None",
            Capability::Partial => "Partial",
            Capability::Full => "Full",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(Capability::None),
            "partial" => Some(Capability::Partial),
            "full" => Some(Capability::Full),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    /// Every check counts; capability from behavioural checks.
    #[default]
    Strict,
    /// The historical Meshery formula (first failing step decides Full/Half/None).
    Meshery,
}

impl Scoring {
    pub fn as_str(self) -> &'static str {
        match self {
            Scoring::Strict => "strict",
            Scoring::Meshery => "meshery",
        }
    }
}
