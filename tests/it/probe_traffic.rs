//! Traffic records from real probes become observations: three probes on loopback, the kube
//! layer's HTTP-over-a-stream client (what runs over the port-forward), the platform's record
//! parser, and the judge's evaluation of the result.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use meshproof::platform::records_from_answer;
use meshproof::spec::case::TrafficCheck;

fn check(yaml: &str) -> TrafficCheck {
    meshproof::yaml::from_str("check", yaml).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_records_over_the_port_forward_client_become_observations() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let a = meshproof_probe::spawn("app-a", any, 1000).await.unwrap();
    let b = meshproof_probe::spawn("app-b", any, 1000).await.unwrap();
    // A closed port: bind and drop to get a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let call = |url: String, method: &str, count: u32| {
        meshproof_kube::probe_call_request(&url, method, count, Duration::from_secs(5))
    };
    let post = |req: serde_json::Value| {
        let addr = a.addr;
        async move {
            let io = tokio::net::TcpStream::connect(addr).await.unwrap();
            meshproof_kube::post_call(io, "app-a", &req, Duration::from_secs(20))
                .await
                .unwrap()
        }
    };

    // Allowed: A → B, answered by B.
    let answer = post(call(b.url("/echo"), "GET", 3)).await;
    let records = records_from_answer("app-a", &answer, 3).unwrap();
    assert!(records
        .iter()
        .all(|r| r.succeeded() && r.backend.as_deref() == Some("app-b") && r.source == "app-a"));
    let (holds, observed) = eval(
        &check("{from: app-a, to: app-b, path: /echo, count: 3, expect: {only: app-b}}"),
        &records,
    );
    assert!(holds, "{observed}");

    // A refused connection is recorded, but it is no denial: nothing decided it (issue 11).
    let answer = post(call(format!("http://{closed}/echo"), "GET", 2)).await;
    let records = records_from_answer("app-a", &answer, 2).unwrap();
    assert!(records
        .iter()
        .all(|r| r.error.as_deref() == Some("connect-refused") && r.status.is_none()));
    let (holds, observed) = eval(
        &check("{from: app-a, to: app-b, path: /echo, count: 2, expect: denied}"),
        &records,
    );
    assert!(!holds, "{observed}");
    assert!(
        observed.contains("connect-refused×2 (inconclusive×2)"),
        "{observed}"
    );

    // A short answer is a harness error, not a mesh failure.
    let e = records_from_answer("app-a", &answer, 5).unwrap_err();
    assert!(e.message.contains("2 records for 5 calls"), "{e}");
    assert!(!e.transient, "a probe that miscounts will miscount again");
    let e = records_from_answer("app-a", &serde_json::json!({"error": "bad"}), 1).unwrap_err();
    assert!(e.message.contains("without records"), "{e}");

    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// The judge's verdict on one traffic check with these records.
fn eval(check: &TrafficCheck, records: &[meshproof::observation::CallRecord]) -> (bool, String) {
    use meshproof::observation::*;
    let suite = common::suite();
    let lc = suite.case("traffic-access").unwrap();
    // Put the records in the default-deny step's single traffic check (index 2), with the
    // check's expectation swapped in through a copy of the case.
    let mut lc = lc.clone();
    lc.case.spec.steps[2].traffic = vec![check.clone()];
    let obs = CaseObservation {
        format: OBSERVATION_FORMAT,
        case: "traffic-access".into(),
        variant: "access-v1alpha3".into(),
        namespace: "ns".into(),
        served: Default::default(),
        steps: vec![],
    };
    let attempt = Attempt {
        traffic: vec![TrafficObservation {
            check: 0,
            records: records.to_vec(),
        }],
        ..Attempt::default()
    };
    // Loopback probes have no mesh: the control's semantics (no signature, no data plane).
    let sem = meshproof::calls::Semantics::of(&common::none_pin());
    let e = meshproof::verdict::evaluate_attempt(&lc, &obs, 2, &attempt, &sem);
    (e[0].holds, e[0].observed.clone())
}

/// The per-call deadline of the run's call budget reaches the real probe: against a peer that
/// accepts connections and never answers, a batch of 3 calls comes back inside the batch
/// timeout with three `timeout` records. At the probe's default deadline (10 s a call) the same
/// batch could not answer within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_call_timeout_is_sent_to_the_probe_and_the_batch_fits_its_timeout() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let a = meshproof_probe::spawn("app-a", any, 1000).await.unwrap();
    // A silent peer: accepts and holds every connection, never writes.
    let silent = tokio::net::TcpListener::bind(any).await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let timeouts = meshproof::timeouts::Timeouts {
        call_secs: 5,
        per_call_ms: 100,
        ..meshproof::timeouts::Timeouts::default()
    };
    let budget = timeouts.call_budget(3);
    assert_eq!(budget.per_call, Duration::from_millis(100));
    assert_eq!(budget.batch, Duration::from_secs(5));
    assert!(budget.per_call * 3 < budget.batch);
    let request = meshproof_kube::probe_call_request(
        &format!("http://{silent_addr}/echo"),
        "GET",
        3,
        budget.per_call,
    );
    assert_eq!(request["timeout_ms"], 100);
    let io = tokio::net::TcpStream::connect(a.addr).await.unwrap();
    let answer = meshproof_kube::post_call(io, "app-a", &request, budget.batch)
        .await
        .expect("the batch answers within its timeout");
    let records = records_from_answer("app-a", &answer, 3).unwrap();
    assert!(
        records
            .iter()
            .all(|r| r.error.as_deref() == Some("timeout") && r.status.is_none()),
        "{records:?}"
    );
    holder.abort();
    a.shutdown().await.unwrap();
}
