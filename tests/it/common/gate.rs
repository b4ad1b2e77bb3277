//! Gates for tests that need something outside the repository (a `helm` binary, `../shared`):
//! the skip notice goes straight to stderr, past libtest's output capture, so `cargo test`
//! shows why a test did not check anything.

use std::io::Write;

/// Prints `SKIP <test>: <reason>` on the real stderr (not captured by the test harness), on a
/// line of its own even when libtest has started its `test <name> ...` line.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr().lock(), "\nSKIP {test}: {reason}");
}
