//! HTML of the site with maud: every page shares one layout (one stylesheet, one small script, a
//! strict Content-Security-Policy), and every value from a bundle is escaped by the template.

pub mod bundle;
pub mod charts;
pub mod compare;
pub mod history;
pub mod logs;
pub mod matrix;

use std::collections::BTreeMap;

use maud::{html, Markup, DOCTYPE};

/// The stylesheet every page links.
pub const CSS_FILE: &str = "site.css";
pub const CSS: &str = include_str!("../assets/site.css");
/// The matrix filters (the pages work without it).
pub const JS_FILE: &str = "site.js";
pub const JS: &str = include_str!("../assets/site.js");

/// Nothing but the site's own stylesheet and script: no inline script, no remote resource, so
/// text from a bundle cannot run even if it were ever emitted unescaped.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'";

/// A page: `root` is the relative path to the site root (`""`, `"../"`, `"../../"`).
pub fn page(root: &str, title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                title { (title) " · meshproof" }
                link rel="stylesheet" href={ (root) (CSS_FILE) };
            }
            body {
                header {
                    nav {
                        a href={ (root) "index.html" } { "Matrix" }
                        a href={ (root) "history/index.html" } { "History" }
                        a href={ (root) "index.html#rejected" } { "Rejected" }
                        a href={ (root) "index.json" } { "index.json" }
                    }
                }
                main { (body) }
                footer {
                    "Built by meshproof " (crate::TOOL_VERSION)
                    " from bundles verified while the site was built: every result here is re-derived from its bundle."
                }
                script src={ (root) (JS_FILE) } {}
            }
        }
    }
    .into_string()
}

/// `200×3, reset×2` from counts.
pub fn tally(counts: &BTreeMap<String, usize>) -> String {
    if counts.is_empty() {
        return "–".into();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A status word shown with its class (text and colour, never colour alone).
pub fn badge(class: &str, word: &str) -> Markup {
    html! { span class={ "badge " (class) } { (word) } }
}

/// The class of a run status.
pub fn run_status_class(s: crate::bundle::RunStatus) -> &'static str {
    match s {
        crate::bundle::RunStatus::Complete => "run-complete",
        crate::bundle::RunStatus::Incomplete => "run-incomplete",
        crate::bundle::RunStatus::Aborted => "run-aborted",
        crate::bundle::RunStatus::InfrastructureFailed => "run-infra",
    }
}

/// The class of a step or check outcome.
pub fn outcome_class(o: crate::verdict::Outcome) -> &'static str {
    match o {
        crate::verdict::Outcome::Pass => "out-pass",
        crate::verdict::Outcome::Fail => "out-fail",
        crate::verdict::Outcome::Error => "out-error",
        crate::verdict::Outcome::Skipped => "out-skipped",
    }
}

/// A word safe to put in a shell command line: kept as is when it holds only characters no
/// shell treats specially, else single-quoted.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Text shown in a `<pre>`: invalid UTF-8 replaced, control characters other than newline and
/// tab shown as U+FFFD.
pub fn display_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_cannot_break_out() {
        assert_eq!(shell_word("run.tar.zst"), "run.tar.zst");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("x'; rm -rf ~; '"), "'x'\\''; rm -rf ~; '\\'''");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("$(id)"), "'$(id)'");
    }

    #[test]
    fn control_characters_are_not_shown() {
        assert_eq!(
            display_text(b"a\x1b[31mb\n\tc\xff"),
            "a\u{FFFD}[31mb\n\tc\u{FFFD}"
        );
    }
}
