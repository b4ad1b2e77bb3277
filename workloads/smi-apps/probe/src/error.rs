//! Error enums of the probe: startup/serving failures and `/call` request validation failures.

use std::io;
use std::net::SocketAddr;

/// Failures that stop the probe (configuration, binding, signal setup).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// An environment variable has a value the probe cannot use.
    #[error("environment variable {var} is invalid ({value:?}): {reason}")]
    Config {
        /// The variable's name.
        var: &'static str,
        /// The value found.
        value: String,
        /// Why it was rejected and what is expected.
        reason: &'static str,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source} (is the port already in use?)")]
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The listener's local address could not be read.
    #[error("cannot read the listener's local address: {0}")]
    LocalAddr(#[source] io::Error),
    /// Installing the SIGTERM/SIGINT handlers failed.
    #[error("cannot install signal handlers: {0}")]
    Signal(#[source] io::Error),
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
}

/// Why a `/call` request body was rejected (answered with 400 and `{"error": <this message>}`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallRequestError {
    /// The body could not be read or is larger than the limit.
    #[error("request body could not be read: {0}")]
    Body(String),
    /// The body is not JSON.
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("request body must be a JSON object with at least the fields `url` and `method`")]
    NotObject,
    /// A required field is absent.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The field's name.
        field: &'static str,
        /// What was expected, e.g. "a string".
        expected: &'static str,
    },
    /// A numeric field is out of its allowed range.
    #[error("field `{field}` must be between {min} and {max}, got {got}")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// The value given.
        got: String,
    },
    /// `url` is not an absolute `http://` URL.
    #[error("field `url` is not a usable URL ({url:?}): {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `method` is not an HTTP method token.
    #[error("field `method` is not a valid HTTP method: {0:?}")]
    BadMethod(String),
    /// An entry of `headers` is not a valid header name/value.
    #[error("field `headers` has an invalid entry {name:?}: {reason}")]
    BadHeader {
        /// The header name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}
