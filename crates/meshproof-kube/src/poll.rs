//! Polling helper shared by waits and deletes: check now, then at a short, growing interval,
//! until the check is done, fails for good, or the deadline passes.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// First pause between two checks.
const FIRST_INTERVAL: Duration = Duration::from_millis(100);
/// Longest pause between two checks.
const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// The result of one check.
#[derive(Debug)]
pub(crate) enum Check<T> {
    /// The condition holds.
    Done(T),
    /// Not yet; the text describes the state seen (kept as the "last state").
    Pending(String),
    /// It cannot become true by waiting (e.g. forbidden); stop now.
    Fatal(String),
}

/// How a poll ended without the condition holding.
#[derive(Debug)]
pub(crate) enum PollEnd {
    /// The deadline passed; the last state seen.
    TimedOut(String),
    /// A check said waiting cannot help.
    Fatal(String),
}

/// Runs `check` immediately, then again after short pauses (100 ms doubling up to 1 s) until it
/// returns [`Check::Done`] or [`Check::Fatal`], or `timeout` passes. A single check is cut short
/// at the deadline too, so the whole poll never lasts much longer than `timeout`.
pub(crate) async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T, PollEnd>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Check<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = FIRST_INTERVAL;
    let mut last = "no state observed yet".to_string();
    loop {
        match tokio::time::timeout_at(deadline, check()).await {
            Ok(Check::Done(value)) => return Ok(value),
            Ok(Check::Fatal(message)) => return Err(PollEnd::Fatal(message)),
            Ok(Check::Pending(state)) => last = state,
            Err(_) => return Err(PollEnd::TimedOut(last)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(PollEnd::TimedOut(last));
        }
        tokio::time::sleep_until((now + interval).min(deadline)).await;
        interval = (interval * 2).min(MAX_INTERVAL);
    }
}
