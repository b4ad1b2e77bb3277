//! Kubernetes-layer tests against a mocked API server: kube-rs's own approach, a
//! `tower_test::mock::pair` service behind `kube::Client::new`, answering with bodies shaped as
//! the real API server's (APIGroupList/APIResourceList, objects, `Status` for errors).

mod api;
mod apply;
mod cluster;
mod discovery;
mod evidence;
mod external;
mod objects;
mod pods;
mod traffic;
mod wait;
