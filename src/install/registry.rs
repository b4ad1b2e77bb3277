//! Registry digests: the `meshproof-registry` crate (anonymous OCI Distribution client), under
//! the install module's name. Image references are `meshproof_core::install::reference`.

pub use meshproof_registry::*;
