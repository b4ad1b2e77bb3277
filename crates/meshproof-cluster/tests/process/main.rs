//! The cluster crate's tests that change process-wide state, in a binary apart from `it` so the
//! Docker-layer tests never see it: `gate` sets and removes `DOCKER_HOST` and
//! `MESHPROOF_REQUIRE_DOCKER`, `signal` sends SIGTERM to this process (caught by the handler
//! that `shutdown_signal` installs). Neither reads what the other changes.

mod gate;
mod signal;
