//! Image references with Docker's normalization rules (registry, repository, tag, digest): the
//! one reference type the image rewriting and the registry client share.

use super::InstallError;
use crate::spec::{is_sha256_digest, is_sha256_hex};

/// The registry name of Docker Hub in normalized references.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's legacy name, normalized to [`DOCKER_HUB`].
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// Where Docker Hub's registry API is served.
const DOCKER_HUB_ENDPOINT: &str = "https://registry-1.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_PREFIX: &str = "library/";
/// The tag of a reference that has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest `registry/repository` name Docker accepts.
const MAX_NAME_LEN: usize = 255;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io` for Docker Hub references, `127.0.0.1:5000`, `cr.l5d.io`, …
    pub registry: String,
    /// `library/nginx`, `linkerd/proxy` (Docker Hub official images get `library/`).
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parse and normalize a reference as Docker does: no registry part (the first path
    /// component has no `.` or `:`, is not `localhost` and is lowercase) means Docker Hub,
    /// single-component Docker Hub names get `library/`, and the tag `latest` is implied only
    /// when neither tag nor digest is given. Only `sha256` digests are accepted.
    pub fn parse(reference: &str) -> Result<ImageRef, InstallError> {
        parse_reference(reference).map_err(|reason| InstallError::Registry {
            reference: reference.to_string(),
            reason: format!("not a valid image reference: {reason}"),
        })
    }

    /// Fully-qualified `registry/repository[:tag][@digest]`.
    pub fn canonical(&self) -> String {
        let mut s = self.name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same image pinned to `digest`, tag kept (`registry/repository:tag@digest`).
    pub fn with_digest(&self, digest: &str) -> ImageRef {
        ImageRef {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// Base URL of the registry API: `https://registry-1.docker.io` for Docker Hub, `http://` for
    /// loopback registries (`localhost`, `127.0.0.1`, `[::1]`, port 80 when none is given),
    /// `https://<registry>` otherwise.
    pub fn endpoint(&self) -> String {
        if self.registry == DOCKER_HUB {
            return DOCKER_HUB_ENDPOINT.to_string();
        }
        let (host, port) = split_port(&self.registry);
        if ["localhost", "127.0.0.1", "[::1]"].contains(&host) {
            format!("http://{host}:{}", port.unwrap_or("80"))
        } else {
            format!("https://{}", self.registry)
        }
    }

    /// The manifest URL of this reference: by digest when it has one, else by tag.
    pub fn manifest_url(&self) -> String {
        let what = self
            .digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG);
        format!(
            "{}/v2/{}/manifests/{what}",
            self.endpoint(),
            self.repository
        )
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}

fn parse_reference(reference: &str) -> Result<ImageRef, String> {
    if reference.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(c) = reference
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("it contains {c:?}"));
    }
    if reference.len() == 64 && is_sha256_hex(reference) {
        return Err(
            "it is 64 hex digits, which is an image ID, not a name (write `name@sha256:…`)".into(),
        );
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        check_digest(d)?;
    }
    // A `:` after the last `/` starts the tag; one before it belongs to the registry's port.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        check_tag(t)?;
    }
    if name.is_empty() {
        return Err("the repository name is empty".into());
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, remainder))
            if first == "localhost"
                || first.contains(['.', ':'])
                || first.to_lowercase() != first =>
        {
            (first, remainder.to_string())
        }
        _ => (DOCKER_HUB, name.to_string()),
    };
    check_registry(registry)?;
    let registry = if registry == DOCKER_HUB_LEGACY {
        DOCKER_HUB
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("{OFFICIAL_PREFIX}{repository}")
    } else {
        repository
    };
    check_repository(&repository)?;
    let full = registry.len() + 1 + repository.len();
    if full > MAX_NAME_LEN {
        return Err(format!(
            "the name `{registry}/{repository}` is {full} characters, more than {MAX_NAME_LEN}"
        ));
    }
    let tag = match (tag, digest) {
        (None, None) => Some(DEFAULT_TAG.to_string()),
        (t, _) => t.map(str::to_string),
    };
    Ok(ImageRef {
        registry: registry.to_string(),
        repository,
        tag,
        digest: digest.map(str::to_string),
    })
}

fn check_digest(d: &str) -> Result<(), String> {
    if is_sha256_digest(d) {
        return Ok(());
    }
    match d.split_once(':') {
        Some(("sha256", _)) => Err(format!(
            "digest `{d}` must be `sha256:` followed by 64 lowercase hex digits"
        )),
        Some((alg, _)) => Err(format!(
            "digest `{d}` uses `{alg}`; only `sha256:` digests are supported"
        )),
        None => Err(format!(
            "digest `{d}` has no algorithm; write `sha256:` followed by 64 lowercase hex digits"
        )),
    }
}

/// `[\w][\w.-]{0,127}`.
fn check_tag(t: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !t.is_empty()
        && t.len() <= 128
        && word(t.as_bytes()[0])
        && t.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else if t.is_empty() {
        Err("the tag after `:` is empty".into())
    } else {
        Err(format!(
            "tag `{t}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ))
    }
}

/// `host[:port]`, host a DNS-like name, an IPv4 address or a bracketed IPv6 address.
fn check_registry(registry: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("registry `{registry}`: {why}"));
    let (host, port) = split_port(registry);
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            return bad("the port must be a number up to 65535");
        }
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(addr) = inner.strip_suffix(']') else {
            return bad("an IPv6 address needs a closing `]`");
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad("not an IPv6 address");
        }
        return Ok(());
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if host.split('.').all(component_ok) {
        Ok(())
    } else {
        bad("the host must be dot-separated letters, digits and inner `-`")
    }
}

/// Split `host[:port]`, minding bracketed IPv6 hosts.
fn split_port(registry: &str) -> (&str, Option<&str>) {
    if registry.starts_with('[') {
        return match registry.find(']') {
            Some(i) => match registry[i + 1..].strip_prefix(':') {
                Some(p) => (&registry[..=i], Some(p)),
                None => (registry, None),
            },
            None => (registry, None),
        };
    }
    match registry.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (registry, None),
    }
}

/// `/`-separated components of `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn check_repository(repository: &str) -> Result<(), String> {
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("repository `{repository}` must be lowercase"));
    }
    for c in repository.split('/') {
        if c.is_empty() {
            return Err(format!(
                "repository `{repository}` has an empty path component"
            ));
        }
        if !path_component_ok(c) {
            return Err(format!(
                "repository component `{c}` may only have lowercase letters and digits, joined by \
                 single `.`, `_` or `__`, or by `-`"
            ));
        }
    }
    Ok(())
}

fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // An alphanumeric run…
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // …then one separator before the next run.
        let sep = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let ok = match &c[sep..i] {
            "." | "_" | "__" => true,
            s => s.bytes().all(|x| x == b'-'),
        };
        if !ok {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parsed(r: &str) -> (String, String, Option<String>, Option<String>) {
        let i = ImageRef::parse(r).unwrap_or_else(|e| panic!("{r}: {e}"));
        (i.registry, i.repository, i.tag, i.digest)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            ("nginx", ("docker.io", "library/nginx", s("latest"), None)),
            (
                "nginx:1.25",
                ("docker.io", "library/nginx", s("1.25"), None),
            ),
            (
                "library/nginx:1.25",
                ("docker.io", "library/nginx", s("1.25"), None),
            ),
            (
                "docker.io/nginx",
                ("docker.io", "library/nginx", s("latest"), None),
            ),
            (
                "index.docker.io/nginx",
                ("docker.io", "library/nginx", s("latest"), None),
            ),
            (
                "linkerd/proxy",
                ("docker.io", "linkerd/proxy", s("latest"), None),
            ),
            ("ghcr.io/a/b:c", ("ghcr.io", "a/b", s("c"), None)),
            ("localhost/x", ("localhost", "x", s("latest"), None)),
            (
                "localhost:5000/x",
                ("localhost:5000", "x", s("latest"), None),
            ),
            ("[::1]:5000/x:t", ("[::1]:5000", "x", s("t"), None)),
            (
                "registry:5000/a/b",
                ("registry:5000", "a/b", s("latest"), None),
            ),
            (
                "cr.l5d.io/linkerd/proxy:stable-2.14.10",
                ("cr.l5d.io", "linkerd/proxy", s("stable-2.14.10"), None),
            ),
            (
                "a__b/c-----d.e_f:T_1",
                ("docker.io", "a__b/c-----d.e_f", s("T_1"), None),
            ),
        ];
        for (input, (reg, repo, tag, digest)) in cases {
            assert_eq!(
                parsed(input),
                (reg.to_string(), repo.to_string(), tag, digest),
                "{input}"
            );
        }
        let with_digest = format!("127.0.0.1:5000/a/b:t@{D}");
        assert_eq!(
            parsed(&with_digest),
            ("127.0.0.1:5000".into(), "a/b".into(), s("t"), s(D))
        );
        // A digest alone implies no tag.
        assert_eq!(
            parsed(&format!("nginx@{D}")),
            ("docker.io".into(), "library/nginx".into(), None, s(D))
        );
        // An uppercase first component is a registry host, as in Docker.
        assert_eq!(parsed("Example/x").0, "Example");
    }

    #[test]
    fn canonical_and_endpoint() {
        let i = ImageRef::parse("nginx").unwrap();
        assert_eq!(i.canonical(), "docker.io/library/nginx:latest");
        assert_eq!(i.endpoint(), "https://registry-1.docker.io");
        assert_eq!(
            i.manifest_url(),
            "https://registry-1.docker.io/v2/library/nginx/manifests/latest"
        );
        let i = ImageRef::parse(&format!("127.0.0.1:5000/a/b:t@{D}")).unwrap();
        assert_eq!(i.canonical(), format!("127.0.0.1:5000/a/b:t@{D}"));
        assert_eq!(i.endpoint(), "http://127.0.0.1:5000");
        assert_eq!(
            i.manifest_url(),
            format!("http://127.0.0.1:5000/v2/a/b/manifests/{D}")
        );
        assert_eq!(
            ImageRef::parse("localhost/x").unwrap().endpoint(),
            "http://localhost:80"
        );
        assert_eq!(
            ImageRef::parse("[::1]:5000/x").unwrap().endpoint(),
            "http://[::1]:5000"
        );
        assert_eq!(
            ImageRef::parse("ghcr.io/a/b:c").unwrap().endpoint(),
            "https://ghcr.io"
        );
        // 127.0.0.2 is loopback too, but only the three names Docker trusts by default get http.
        assert_eq!(
            ImageRef::parse("127.0.0.2:5000/x").unwrap().endpoint(),
            "https://127.0.0.2:5000"
        );
        assert_eq!(
            ImageRef::parse("ghcr.io/a/b:c")
                .unwrap()
                .with_digest(D)
                .canonical(),
            format!("ghcr.io/a/b:c@{D}")
        );
    }

    #[test]
    fn rejects_bad_references_clearly() {
        let long_tag = format!("x:{}", "a".repeat(129));
        let long_name = format!("example.com/{}", "a".repeat(250));
        let hex_id = "0123456789abcdef".repeat(4);
        let cases: Vec<(&str, &str)> = vec![
            ("", "empty"),
            ("Nginx", "must be lowercase"),
            ("example.com/Library/nginx", "must be lowercase"),
            ("nginx:", "tag after `:` is empty"),
            ("nginx:-x", "tag `-x`"),
            (&long_tag, "1 to 128"),
            ("nginx@sha256:abc", "64 lowercase hex"),
            (
                "nginx@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                "64 lowercase hex",
            ),
            ("nginx@md5:0123", "only `sha256:`"),
            ("nginx@0123", "no algorithm"),
            ("a//b", "empty path component"),
            ("a/b/", "empty path component"),
            ("a/-b", "repository component `-b`"),
            ("a/b..c", "repository component `b..c`"),
            ("a/b___c", "repository component `b___c`"),
            ("nginx latest", "contains ' '"),
            ("example.com:99999/x", "port"),
            ("-bad.com/x", "registry `-bad.com`"),
            ("[::1/x", "closing `]`"),
            ("[zz]:5000/x", "not an IPv6"),
            (&long_name, "more than 255"),
            (&hex_id, "image ID"),
            ("/x", "empty path component"),
        ];
        for (input, want) in cases {
            let e = ImageRef::parse(input).expect_err(input).to_string();
            assert!(
                e.contains("not a valid image reference") && e.contains(want),
                "{input:?}: {e}"
            );
            assert!(e.starts_with(&format!("image {input}: ")), "{input:?}: {e}");
        }
    }
}
