//! meshproof's provider layer: ephemeral kind clusters driven through the `kind` CLI, and the
//! Docker engine (through bollard) for everything around them — preflight, node discovery, node
//! logs, image loading, teardown guard and garbage collection.
//!
//! This crate sits between the pure core (plan, judge, bundle) and the outside world; it is the
//! only place that talks to Docker or runs `kind`. Every operation returns a typed error naming
//! the container and the step that failed; [`docker::root_cause`] walks an error chain to the
//! message a user can act on.
//!
//! Typical flow of a run:
//! 1. [`preflight::run_checks`] (also `meshproof doctor`);
//! 2. [`kind::check_kind_version`], [`kind::render_config`], [`kind::KindCli::create`];
//! 3. a [`guard::ClusterGuard`] that deletes the cluster on drop, error or signal;
//! 4. [`nodes::list_nodes`], [`images::load_image_archive`], ... the run ...;
//! 5. [`logs::export_logs`] before teardown, then [`guard::verify_gone`];
//! 6. [`gc::plan`] / [`gc::apply`] for leftovers (`meshproof gc`).

pub mod docker;
pub mod gc;
pub mod guard;
pub mod images;
pub mod kind;
pub mod logs;
pub mod nodes;
pub mod preflight;

pub use docker::{connect, root_cause, Engine, EngineInfo};
pub use nodes::Node;

/// Docker label kind puts on every node container; its value is the cluster name.
pub const LABEL_CLUSTER: &str = "io.x-k8s.kind.cluster";
/// Docker label kind puts on every node container; its value is the node role
/// (`control-plane`, `worker` or `external-load-balancer`).
pub const LABEL_ROLE: &str = "io.x-k8s.kind.role";
/// Every cluster meshproof creates is named with this prefix; `gc` only touches such clusters.
pub const CLUSTER_PREFIX: &str = "meshproof-";
/// Environment variable: when set to `1`, tests that need Docker fail instead of skipping when
/// no engine answers (CI sets it).
pub const REQUIRE_DOCKER_ENV: &str = "MESHPROOF_REQUIRE_DOCKER";
