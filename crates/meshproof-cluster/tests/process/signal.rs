//! The guard's signal wiring (in the `process` binary: it sends SIGTERM to this process, caught
//! by the handler that `shutdown_signal` installs, so the process survives).

use std::sync::{Arc, Mutex};

use meshproof_cluster::guard::{
    shutdown_signal, ClusterGuard, ShutdownSignal, Teardown, TeardownError, TeardownOutcome,
};

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<String>>);

impl Teardown for Recorder {
    fn delete_cluster(&self, cluster: &str) -> Result<(), TeardownError> {
        self.0.lock().unwrap().push(cluster.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn sigterm_tears_the_cluster_down_once() {
    let rec = Arc::new(Recorder::default());
    let guard = ClusterGuard::new("meshproof-sig", rec.clone(), false);
    // Handlers are installed when shutdown_signal returns: the signal cannot be missed.
    let trigger = shutdown_signal().unwrap();
    let task = guard.spawn_teardown_on(trigger, false);
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM)
        .unwrap();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("the handler reacts to SIGTERM")
        .unwrap();
    assert_eq!(outcome.unwrap().unwrap(), TeardownOutcome::Deleted);
    drop(guard); // already torn down: no second delete
    assert_eq!(*rec.0.lock().unwrap(), vec!["meshproof-sig"]);
    assert_eq!(ShutdownSignal::Terminate.exit_code(), 143);
    assert_eq!(ShutdownSignal::Interrupt.exit_code(), 130);
}

#[tokio::test]
async fn kept_cluster_survives_the_trigger() {
    let rec = Arc::new(Recorder::default());
    let guard = ClusterGuard::new("meshproof-kept", rec.clone(), true);
    let task = guard.spawn_teardown_on(async { ShutdownSignal::Interrupt }, false);
    assert_eq!(task.await.unwrap().unwrap().unwrap(), TeardownOutcome::Kept);
    drop(guard);
    assert!(rec.0.lock().unwrap().is_empty());
}
