//! Image digest resolution (`install::registry`) against a fake OCI registry on 127.0.0.1 (the
//! shared fake HTTP server of `common::http`): HEAD with `Docker-Content-Digest`, the GET fallback
//! that hashes the manifest, lying digest headers, the anonymous Bearer token flow, 404s,
//! redirects, limits and timeouts. Every digest here is the sha256 of a fake manifest made up in
//! this file.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::common::http::{FakeHttp, Reply, Seen};
use meshproof::install::registry::{self, ImageRef, MANIFEST_MEDIA_TYPES};
use sha2::Digest;

impl Reply {
    /// A manifest answer: content type, body (not sent for HEAD), optional digest header.
    fn manifest(body: &[u8], media_type: &str, digest: Option<&str>) -> Reply {
        let r = Reply::new(200)
            .header("Content-Type", media_type)
            .body(body);
        match digest {
            Some(d) => r.header("Docker-Content-Digest", d),
            None => r,
        }
    }
}

const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const LIST_TYPE: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A fake image index (its one platform manifest digest is the sha256 of a made-up string).
fn fake_index() -> Vec<u8> {
    let platform = sha256_digest(b"fake platform manifest for the registry tests");
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX_TYPE}","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{platform}","size":42,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
    )
    .into_bytes()
}

/// `sha256:<hex>` computed here, independently of the crate.
fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn parse_normalizes_references() {
    let d = sha256_digest(b"a digest for parsing only");
    let image = |registry: &str, repository: &str, tag: Option<&str>, digest: bool| ImageRef {
        registry: registry.into(),
        repository: repository.into(),
        tag: tag.map(String::from),
        digest: digest.then(|| d.clone()),
    };
    let cases = [
        (
            "nginx".to_string(),
            image("docker.io", "library/nginx", Some("latest"), false),
            "docker.io/library/nginx:latest".to_string(),
        ),
        (
            "library/nginx:1.25".into(),
            image("docker.io", "library/nginx", Some("1.25"), false),
            "docker.io/library/nginx:1.25".into(),
        ),
        (
            "docker.io/nginx".into(),
            image("docker.io", "library/nginx", Some("latest"), false),
            "docker.io/library/nginx:latest".into(),
        ),
        (
            "ghcr.io/a/b:c".into(),
            image("ghcr.io", "a/b", Some("c"), false),
            "ghcr.io/a/b:c".into(),
        ),
        (
            "localhost:5000/x".into(),
            image("localhost:5000", "x", Some("latest"), false),
            "localhost:5000/x:latest".into(),
        ),
        (
            format!("127.0.0.1:5000/a/b:t@{d}"),
            image("127.0.0.1:5000", "a/b", Some("t"), true),
            format!("127.0.0.1:5000/a/b:t@{d}"),
        ),
        (
            format!("127.0.0.1:5000/a/b@{d}"),
            image("127.0.0.1:5000", "a/b", None, true),
            format!("127.0.0.1:5000/a/b@{d}"),
        ),
        (
            "cr.l5d.io/linkerd/proxy:stable-2.14.10".into(),
            image("cr.l5d.io", "linkerd/proxy", Some("stable-2.14.10"), false),
            "cr.l5d.io/linkerd/proxy:stable-2.14.10".into(),
        ),
    ];
    for (input, want, canonical) in cases {
        let r = ImageRef::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r, want, "{input}");
        assert_eq!(r.canonical(), canonical, "{input}");
        // The canonical form parses back to the same reference.
        assert_eq!(ImageRef::parse(&canonical).unwrap(), r, "{input}");
    }

    for (bad, want) in [
        ("", "empty"),
        ("Nginx:1", "must be lowercase"),
        ("ghcr.io/Team/app", "must be lowercase"),
        ("nginx@sha256:1234", "64 lowercase hex"),
        ("nginx@sha512:1234", "only `sha256:`"),
        ("nginx:bad!", "tag `bad!`"),
        ("example.com:port/x", "the port must be a number"),
        ("nginx:.x", "tag `.x`"),
        ("a//b", "empty path component"),
    ] {
        let e = ImageRef::parse(bad).expect_err(bad).to_string();
        assert!(
            e.contains(&format!("image {bad}:")) && e.contains(want),
            "{bad:?}: {e}"
        );
    }
}

#[test]
fn head_with_docker_content_digest_is_used() {
    let index = fake_index();
    let digest = sha256_digest(&index);
    let answer = digest.clone();
    let fake = FakeHttp::start(move |req, _| {
        if req.path == "/v2/team/app/manifests/v1" {
            Reply::manifest(&fake_index(), INDEX_TYPE, Some(&answer))
        } else {
            Reply::new(404)
        }
    });
    let got = registry::resolve(&format!("{}/team/app:v1", fake.addr)).unwrap();
    assert_eq!(got, digest);

    let reqs = fake.requests();
    assert_eq!(
        fake.methods_and_paths(),
        [("HEAD".to_string(), "/v2/team/app/manifests/v1".to_string())],
        "one HEAD, no GET"
    );
    let accept = reqs[0].header("accept").expect("an Accept header");
    for mt in MANIFEST_MEDIA_TYPES {
        assert!(accept.contains(mt), "Accept lacks {mt}: {accept}");
    }
    // Index and list types come before the single-manifest types.
    assert!(accept.find(INDEX_TYPE).unwrap() < accept.find("manifest.v1+json").unwrap());
    assert!(accept.contains(LIST_TYPE));
    assert_eq!(reqs[0].header("authorization"), None);
}

#[test]
fn head_without_digest_falls_back_to_get_and_hashes_the_body() {
    let fake = FakeHttp::start(|req, _| match req.method.as_str() {
        // HEAD succeeds but says no digest; GET serves the body, also without a digest header.
        "HEAD" | "GET" => Reply::manifest(&fake_index(), INDEX_TYPE, None),
        _ => Reply::new(405),
    });
    let got = registry::resolve(&format!("{}/team/app:v1", fake.addr)).unwrap();
    assert_eq!(got, sha256_digest(&fake_index()));
    assert_eq!(
        got,
        format!("sha256:{}", meshproof::sha256_hex(&fake_index()))
    );
    let methods: Vec<String> = fake.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["HEAD", "GET"]);
    let get = &fake.requests()[1];
    assert_eq!(get.path, "/v2/team/app/manifests/v1");
    assert!(get.header("accept").unwrap().contains(INDEX_TYPE));
}

#[test]
fn head_not_allowed_falls_back_to_get_with_a_matching_header() {
    let digest = sha256_digest(&fake_index());
    let d = digest.clone();
    let fake = FakeHttp::start(move |req, _| match req.method.as_str() {
        "GET" => Reply::manifest(&fake_index(), LIST_TYPE, Some(&d)),
        _ => Reply::new(405),
    });
    assert_eq!(
        registry::resolve(&format!("{}/team/app:v1", fake.addr)).unwrap(),
        digest
    );
    let methods: Vec<String> = fake.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["HEAD", "GET"]);
}

#[test]
fn a_lying_digest_header_on_get_is_refused() {
    let lie = sha256_digest(b"not the manifest the fake registry serves");
    let l = lie.clone();
    let fake = FakeHttp::start(move |req, _| match req.method.as_str() {
        "GET" => Reply::manifest(&fake_index(), INDEX_TYPE, Some(&l)),
        _ => Reply::manifest(&fake_index(), INDEX_TYPE, None),
    });
    let reference = format!("{}/team/app:v1", fake.addr);
    let e = registry::resolve(&reference).unwrap_err().to_string();
    assert!(e.contains(&reference), "{e}");
    assert!(e.contains(&lie), "names the header's digest: {e}");
    assert!(
        e.contains(&sha256_digest(&fake_index())),
        "names the computed digest: {e}"
    );
    assert!(e.contains("refusing"), "{e}");
}

#[test]
fn bearer_challenge_fetches_an_anonymous_token_and_retries() {
    let digest = sha256_digest(&fake_index());
    let d = digest.clone();
    let fake = FakeHttp::start(
        move |req, addr| match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/token") => Reply::new(200)
                .header("Content-Type", "application/json")
                .body(br#"{"token":"fake-token-for-tests","expires_in":300}"#),
            (_, "/v2/team/app/manifests/v1") => {
                if req.header("authorization") == Some("Bearer fake-token-for-tests") {
                    Reply::manifest(&fake_index(), INDEX_TYPE, Some(&d))
                } else {
                    // A quoted scope holding a comma, as registries send for push+pull.
                    let challenge = format!(
                        r#"Bearer realm="http://{addr}/token",service="fake-registry",scope="repository:team/app:pull,push""#
                    );
                    Reply::new(401)
                    .header("WWW-Authenticate", &challenge)
                    .header("Content-Type", "application/json")
                    .body(br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)
                }
            }
            _ => Reply::new(404),
        },
    );
    let got = registry::resolve(&format!("{}/team/app:v1", fake.addr)).unwrap();
    assert_eq!(got, digest);

    let reqs = fake.requests();
    assert_eq!(
        fake.methods_and_paths(),
        [
            ("HEAD".to_string(), "/v2/team/app/manifests/v1".to_string()),
            ("GET".to_string(), "/token".to_string()),
            ("HEAD".to_string(), "/v2/team/app/manifests/v1".to_string()),
        ]
    );
    assert_eq!(reqs[0].header("authorization"), None);
    // The token request is anonymous and carries the challenge's service and scope.
    assert_eq!(reqs[1].header("authorization"), None);
    assert_eq!(reqs[1].query("service"), ["fake-registry"]);
    assert_eq!(reqs[1].query("scope"), ["repository:team/app:pull,push"]);
    assert_eq!(
        reqs[2].header("authorization"),
        Some("Bearer fake-token-for-tests")
    );
}

#[test]
fn challenge_without_scope_asks_for_pull_and_access_token_is_read() {
    let digest = sha256_digest(&fake_index());
    let d = digest.clone();
    let fake = FakeHttp::start(move |req, addr| match req.path.as_str() {
        "/auth/token" => Reply::new(200).body(br#"{"access_token":"fake-access-token"}"#),
        _ if req.header("authorization") == Some("Bearer fake-access-token") => {
            if req.method == "HEAD" {
                Reply::new(200).header("Content-Type", INDEX_TYPE)
            } else {
                Reply::manifest(&fake_index(), INDEX_TYPE, Some(&d))
            }
        }
        _ => Reply::new(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="http://{addr}/auth/token""#),
        ),
    });
    let got = registry::resolve(&format!("{}/org/team/app:v1", fake.addr)).unwrap();
    assert_eq!(got, digest);
    let reqs = fake.requests();
    let token_reqs: Vec<&Seen> = reqs.iter().filter(|r| r.path == "/auth/token").collect();
    assert_eq!(token_reqs.len(), 1, "one token for HEAD and GET");
    assert_eq!(
        token_reqs[0].query("scope"),
        ["repository:org/team/app:pull"]
    );
    assert!(token_reqs[0].query("service").is_empty());
    let methods: Vec<&str> = reqs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["HEAD", "GET", "HEAD", "GET"]);
    assert_eq!(
        reqs[3].header("authorization"),
        Some("Bearer fake-access-token"),
        "the GET fallback reuses the token"
    );
}

#[test]
fn a_401_after_the_token_is_refused_anonymous_access() {
    let fake = FakeHttp::start(|req, addr| match req.path.as_str() {
        "/token" => Reply::new(200).body(br#"{"token":"fake-token-for-tests"}"#),
        _ => Reply::new(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="http://{addr}/token",service="fake-registry""#),
        ),
    });
    let reference = format!("{}/team/private:v1", fake.addr);
    let e = registry::resolve(&reference).unwrap_err().to_string();
    assert!(e.contains(&reference), "{e}");
    assert!(e.contains("registry refused anonymous access"), "{e}");
    assert_eq!(
        fake.methods_and_paths(),
        [
            (
                "HEAD".to_string(),
                "/v2/team/private/manifests/v1".to_string()
            ),
            ("GET".to_string(), "/token".to_string()),
            (
                "HEAD".to_string(),
                "/v2/team/private/manifests/v1".to_string()
            ),
        ],
        "one token, one retry"
    );
}

#[test]
fn basic_only_challenge_is_refused_without_sending_anything() {
    let fake = FakeHttp::start(|_, _| {
        Reply::new(401).header("WWW-Authenticate", r#"Basic realm="fake registry""#)
    });
    let reference = format!("{}/team/app:v1", fake.addr);
    let e = registry::resolve(&reference).unwrap_err().to_string();
    assert!(e.contains(&reference), "{e}");
    assert!(
        e.contains("refused anonymous access") && e.contains("Basic"),
        "{e}"
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("authorization"), None);
}

#[test]
fn malformed_challenges_and_token_answers_are_errors() {
    for (challenge, want) in [
        (r#"Bearer realm="http://127.0.0.1:1/token"#, "malformed"),
        (r#"Bearer service="fake-registry""#, "no realm"),
        (r#"Bearer realm="http://fake.invalid/token""#, "only https"),
    ] {
        let c = challenge.to_string();
        let fake = FakeHttp::start(move |_, _| Reply::new(401).header("WWW-Authenticate", &c));
        let reference = format!("{}/team/app:v1", fake.addr);
        let e = registry::resolve(&reference).unwrap_err().to_string();
        assert!(
            e.contains(&reference) && e.contains(want),
            "{challenge}: {e}"
        );
        assert_eq!(fake.requests().len(), 1, "{challenge}: no token request");
    }

    for (body, want) in [
        (&b"<html>not json</html>"[..], "not JSON"),
        (&br#"{"token":""}"#[..], "without a `token`"),
    ] {
        let fake = FakeHttp::start(move |req, addr| match req.path.as_str() {
            "/token" => Reply::new(200).body(body),
            _ => Reply::new(401).header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="http://{addr}/token""#),
            ),
        });
        let reference = format!("{}/team/app:v1", fake.addr);
        let e = registry::resolve(&reference).unwrap_err().to_string();
        assert!(e.contains(&reference) && e.contains(want), "{e}");
    }
}

#[test]
fn a_missing_tag_is_not_found() {
    let fake = FakeHttp::start(|_, _| Reply::new(404));
    let reference = format!("{}/team/app:no-such-tag", fake.addr);
    let e = registry::resolve(&reference).unwrap_err().to_string();
    assert!(e.contains(&reference), "{e}");
    assert!(e.contains("not found"), "{e}");
    assert!(e.contains("no-such-tag"), "{e}");
    assert_eq!(fake.requests().len(), 1, "a HEAD 404 is final");
}

#[test]
fn get_errors_carry_the_registry_error_codes() {
    let fake = FakeHttp::start(|req, _| match req.method.as_str() {
        "HEAD" => Reply::new(405),
        _ => Reply::new(403).body(br#"{"errors":[{"code":"DENIED","message":"fake denial"}]}"#),
    });
    let reference = format!("{}/team/app:v1", fake.addr);
    let e = registry::resolve(&reference).unwrap_err().to_string();
    assert!(e.contains(&reference) && e.contains("403"), "{e}");
    assert!(e.contains("DENIED: fake denial"), "{e}");
}

#[test]
fn a_digested_reference_makes_no_request() {
    let fake = FakeHttp::start(|_, _| Reply::new(500));
    let digest = sha256_digest(&fake_index());
    for reference in [
        format!("{}/team/app@{digest}", fake.addr),
        format!("{}/team/app:v1@{digest}", fake.addr),
    ] {
        assert_eq!(registry::resolve(&reference).unwrap(), digest);
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[test]
fn oversize_and_non_manifest_bodies_are_refused() {
    let big = vec![b' '; registry::MAX_MANIFEST_BYTES as usize + 1];
    let fake = FakeHttp::start(move |req, _| match req.method.as_str() {
        "HEAD" => Reply::new(405),
        _ => Reply::manifest(&big, INDEX_TYPE, None),
    });
    let e = registry::resolve(&format!("{}/team/app:v1", fake.addr))
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than"), "{e}");

    let fake = FakeHttp::start(|req, _| match req.method.as_str() {
        "HEAD" => Reply::new(405),
        _ => Reply::new(200)
            .header("Content-Type", "text/html")
            .body(b"<html>captive portal</html>"),
    });
    let e = registry::resolve(&format!("{}/team/app:v1", fake.addr))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not a JSON manifest") && e.contains("text/html"),
        "{e}"
    );
}

#[test]
fn redirects_are_followed_and_the_token_stays_with_its_origin() {
    // The manifest is served elsewhere (another port: another origin), which must not see the token.
    let elsewhere = FakeHttp::start(|req, _| match req.path.as_str() {
        "/blobs/manifest" => Reply::manifest(&fake_index(), INDEX_TYPE, None),
        _ => Reply::new(404),
    });
    let target = format!("http://{}/blobs/manifest", elsewhere.addr);
    let fake = FakeHttp::start(
        move |req, addr| match (req.method.as_str(), req.path.as_str()) {
            (_, "/token") => Reply::new(200).body(br#"{"token":"fake-token-for-tests"}"#),
            _ if req.header("authorization") != Some("Bearer fake-token-for-tests") => {
                Reply::new(401).header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="http://{addr}/token",service="fake-registry""#),
                )
            }
            // Same-origin relative redirect for HEAD, cross-origin for GET.
            ("HEAD", "/v2/team/app/manifests/v1") => {
                Reply::new(307).header("Location", "/v2/team/app/manifests/moved")
            }
            ("HEAD", "/v2/team/app/manifests/moved") => {
                Reply::new(200).header("Content-Type", INDEX_TYPE)
            }
            ("GET", "/v2/team/app/manifests/v1") => Reply::new(307).header("Location", &target),
            _ => Reply::new(404),
        },
    );
    let got = registry::resolve(&format!("{}/team/app:v1", fake.addr)).unwrap();
    assert_eq!(got, sha256_digest(&fake_index()));
    let reqs = fake.requests();
    let moved = reqs
        .iter()
        .find(|r| r.path == "/v2/team/app/manifests/moved")
        .expect("the HEAD redirect was followed");
    assert_eq!(
        moved.header("authorization"),
        Some("Bearer fake-token-for-tests"),
        "same origin keeps the token"
    );
    let other = elsewhere.requests();
    assert_eq!(other.len(), 1, "{other:?}");
    assert_eq!(other[0].method, "GET");
    assert_eq!(other[0].header("authorization"), None, "token leaked");
}

/// A registry that redirects every manifest request to another one which asks for a token
/// (cr.l5d.io → ghcr.io): the token is fetched for, and sent to, the challenging host only.
#[test]
fn a_redirect_target_that_challenges_gets_its_own_token() {
    let target = FakeHttp::start(move |req, addr| match req.path.as_str() {
        "/token" => Reply::new(200).body(br#"{"token":"target-token"}"#),
        _ if req.header("authorization") != Some("Bearer target-token") => Reply::new(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="http://{addr}/token",service="target""#),
        ),
        "/v2/team/app/manifests/v1" => Reply::manifest(&fake_index(), INDEX_TYPE, None),
        _ => Reply::new(404),
    });
    let target_addr = target.addr.clone();
    let redirector = FakeHttp::start(move |req, _| {
        Reply::new(307).header("Location", &format!("http://{target_addr}{}", req.path))
    });
    let got = registry::resolve(&format!("{}/team/app:v1", redirector.addr)).unwrap();
    assert_eq!(got, sha256_digest(&fake_index()));
    let front = redirector.requests();
    assert!(front.len() >= 2, "{front:?}");
    assert!(
        front.iter().all(|r| r.header("authorization").is_none()),
        "the target's token went to the redirector: {front:?}"
    );
    let back = target.requests();
    let token_asks = back.iter().filter(|r| r.path == "/token").count();
    assert_eq!(token_asks, 1, "{back:?}");
    assert!(
        back.iter().any(|r| r.path == "/v2/team/app/manifests/v1"
            && r.header("authorization") == Some("Bearer target-token")),
        "{back:?}"
    );
}

#[test]
fn redirects_to_plain_http_elsewhere_are_refused() {
    let fake = FakeHttp::start(|_, _| {
        Reply::new(302).header("Location", "http://fake.invalid/v2/team/app/manifests/v1")
    });
    let e = registry::resolve(&format!("{}/team/app:v1", fake.addr))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("only https") && e.contains("http://fake.invalid/"),
        "{e}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn a_silent_registry_is_bounded_by_the_timeout() {
    let fake = FakeHttp::start(|_, _| {
        std::thread::sleep(Duration::from_secs(5));
        Reply::new(404)
    });
    let start = Instant::now();
    let e = registry::resolve_within(
        &format!("{}/team/app:v1", fake.addr),
        Duration::from_millis(300),
    )
    .unwrap_err()
    .to_string();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(e.contains("timeout") || e.contains("longer"), "{e}");
}

#[test]
fn network_errors_name_the_reference() {
    // Bind then drop a listener: nothing accepts on that port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reference = format!("127.0.0.1:{port}/team/app:v1");
    let e = registry::resolve(&reference).unwrap_err().to_string();
    assert!(
        e.contains(&reference) && e.contains(&format!("HEAD http://127.0.0.1:{port}/v2/")),
        "{e}"
    );
}
