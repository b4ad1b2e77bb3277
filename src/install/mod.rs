//! Mesh install effects (between `plan` and the kube layer): fetch pinned artifacts and check
//! their sha256 (`fetch`, `manifests`), render Helm charts offline (`helm`), generate Linkerd
//! identity certificates (`certs`), run a pinned mesh CLI offline (`cli`), resolve image tags to
//! digests over the registry API (`registry`), render a pin into the manifests to apply, shared by
//! `run` and `lock` (`render`), and resolve lock files (`lock`). The model these act on (lock
//! types, image pinning, planned commands, the install error) is `meshproof_core::install`,
//! re-exported here.
//!
//! Nothing here talks to a cluster: the platform applies what these functions return, so the
//! exact manifests go into the bundle.

pub use meshproof_core::install::{check_sha256, images, InstallError};

pub mod certs;
pub mod cli;
pub mod fetch;
pub mod helm;
pub mod lock;
pub mod manifests;
pub mod registry;
pub mod render;
