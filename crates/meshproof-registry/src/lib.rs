//! Registry digests (meshproof's OCI Distribution client): resolves a tag to the digest of the manifest a pull by that reference gets, over the OCI
//! Distribution API (`HEAD`, then `GET`, of `/v2/<repository>/manifests/<tag>`).
//!
//! Pulls are anonymous only. When a registry answers 401 with a `Bearer` challenge, an anonymous
//! token is fetched from the challenge's realm and the request is retried once with it; no
//! credentials (docker config files, credential helpers, environment) are read or sent anywhere,
//! so images that need a login cannot be resolved here.
//!
//! Transport follows meshproof's artifact downloads: `https` everywhere, plain `http` only on the loopback
//! interface (`localhost`, `127.0.0.1`, `[::1]` registries, as Docker's default insecure loopback),
//! checked again for token realms and every redirect. Bodies are bounded, and one resolution,
//! all requests together, is bounded by [`meshproof_core::timeouts::REGISTRY_RESOLVE`].

use std::time::{Duration, Instant};

pub use meshproof_core::install::reference::{ImageRef, DEFAULT_TAG, DOCKER_HUB};
use meshproof_core::install::InstallError;
use meshproof_core::spec::is_sha256_digest;
use meshproof_core::spec::mesh::is_fetchable_url;

/// The manifest media types asked for, image indexes and manifest lists first, so a multi-arch
/// tag resolves to its index (the digest a pull by tag records), not to one platform's manifest.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// The largest manifest body read (the distribution spec has clients and registries support
/// manifests of at least 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// The largest token-endpoint answer read.
const MAX_TOKEN_BYTES: u64 = 1024 * 1024;
/// How much of an error answer is read for its `errors` list.
const MAX_ERROR_BYTES: u64 = 64 * 1024;
/// Redirects followed per request.
const MAX_REDIRECTS: usize = 5;

/// Resolve `reference` to the digest of the manifest a pull by that reference gets (for
/// multi-arch images the image index / manifest list digest, not a platform manifest), as
/// `sha256:<64 hex>`. A reference that already carries a digest is returned as-is without network.
pub fn resolve(reference: &str) -> Result<String, InstallError> {
    resolve_within(reference, meshproof_core::timeouts::REGISTRY_RESOLVE)
}

/// [`resolve`] with all of its requests bounded by `timeout` together.
pub fn resolve_within(reference: &str, timeout: Duration) -> Result<String, InstallError> {
    let image = ImageRef::parse(reference)?;
    if let Some(d) = &image.digest {
        return Ok(d.clone());
    }
    Session::new(reference, &image, timeout).resolve()
}

/// One `WWW-Authenticate` challenge: its scheme and parameters (names lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parse a `WWW-Authenticate` value (RFC 7235): one or more comma-separated challenges, each a
/// scheme followed by `name=value` parameters (values as tokens or quoted strings, which may hold
/// commas and `\`-escapes) or a token68.
pub fn parse_challenges(header: &str) -> Result<Vec<Challenge>, String> {
    let mut p = Cursor {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        p.skip(|b| b == b',' || is_ws(b));
        if p.done() {
            break;
        }
        let scheme = p.token();
        if scheme.is_empty() {
            return Err(format!(
                "expected an auth scheme at byte {} of `{header}`",
                p.i
            ));
        }
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
        };
        // Parameters until the next challenge's scheme (a token not followed by `=`) or the end.
        loop {
            p.skip(is_ws);
            if p.done() {
                break;
            }
            let mark = p.i;
            let name = p.token();
            p.skip(is_ws);
            if name.is_empty() || p.peek() != Some(b'=') {
                if name.is_empty() && p.peek() != Some(b',') {
                    return Err(format!(
                        "unexpected character at byte {} of `{header}`",
                        p.i
                    ));
                }
                if name.is_empty() {
                    p.i += 1; // the `,` between parameters
                    continue;
                }
                p.i = mark; // the next challenge
                break;
            }
            p.i += 1; // `=`
            if p.peek() == Some(b'=') || (challenge.params.is_empty() && p.at_item_end()) {
                // token68 (`Basic dXNlcg==`): trailing `=`s, then the end of this challenge.
                p.skip(|b| b == b'=');
                challenge.params.push((String::new(), name));
                continue;
            }
            p.skip(is_ws);
            let value = if p.peek() == Some(b'"') {
                p.quoted()
                    .ok_or_else(|| format!("unterminated quoted value of `{name}` in `{header}`"))?
            } else {
                let v = p.token();
                if v.is_empty() {
                    return Err(format!("parameter `{name}` has no value in `{header}`"));
                }
                v
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
            p.skip(is_ws);
            match p.peek() {
                None => break,
                Some(b',') => p.i += 1,
                Some(_) => {
                    return Err(format!("expected `,` at byte {} of `{header}`", p.i));
                }
            }
        }
        out.push(challenge);
    }
    if out.is_empty() {
        return Err("the challenge is empty".into());
    }
    Ok(out)
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }
    /// After optional whitespace: the end, or a `,`.
    fn at_item_end(&self) -> bool {
        let mut j = self.i;
        while j < self.s.len() && is_ws(self.s[j]) {
            j += 1;
        }
        j >= self.s.len() || self.s[j] == b','
    }
    fn token(&mut self) -> String {
        let start = self.i;
        self.skip(is_tchar);
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }
    /// A quoted string at the cursor, unescaped; `None` when it does not end.
    fn quoted(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut v = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&v).into_owned()),
                b'\\' => {
                    v.push(self.peek()?);
                    self.i += 1;
                }
                _ => v.push(b),
            }
        }
        None
    }
}

/// Percent-encode a query value (everything but RFC 3986 unreserved characters).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token URL of a bearer challenge: `realm?service=…&scope=…` (one `scope` per
/// space-separated scope; `repository:<repository>:pull` when the challenge has none).
pub fn token_url(challenge: &Challenge, repository: &str) -> Result<String, String> {
    let realm = challenge
        .param("realm")
        .filter(|r| !r.is_empty())
        .ok_or("the Bearer challenge has no realm")?;
    let mut query = Vec::new();
    if let Some(service) = challenge.param("service") {
        query.push(format!("service={}", query_escape(service)));
    }
    let default_scope = format!("repository:{repository}:pull");
    let scopes = challenge
        .param("scope")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(&default_scope);
    for scope in scopes.split_whitespace() {
        query.push(format!("scope={}", query_escape(scope)));
    }
    let sep = if realm.contains('?') { '&' } else { '?' };
    Ok(format!("{realm}{sep}{}", query.join("&")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Head,
    Get,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Head => "HEAD",
            Method::Get => "GET",
        }
    }
}

/// A registry answer, after redirects.
struct Answer {
    method: Method,
    url: String,
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type` without parameters, lowercased.
    fn media_type(&self) -> Option<String> {
        let ct = self.header("content-type")?;
        let mt = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        (!mt.is_empty()).then_some(mt)
    }

    fn what(&self) -> String {
        format!(
            "{} {} answered {}",
            self.method.name(),
            self.url,
            self.status
        )
    }

    /// ` (CODE: message; …)` from a registry's JSON `errors` list, when there is one.
    fn error_details(&self) -> String {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) else {
            return String::new();
        };
        let Some(errors) = v.get("errors").and_then(|e| e.as_array()) else {
            return String::new();
        };
        let parts: Vec<String> = errors
            .iter()
            .take(5)
            .map(|e| {
                let s = |k: &str| e.get(k).and_then(|x| x.as_str()).unwrap_or("");
                match (s("code"), s("message")) {
                    (c, "") => c.to_string(),
                    ("", m) => m.to_string(),
                    (c, m) => format!("{c}: {m}"),
                }
            })
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join("; "))
        }
    }
}

/// One resolution: the agent, the deadline, and the anonymous token once fetched.
struct Session<'a> {
    reference: &'a str,
    image: &'a ImageRef,
    agent: ureq::Agent,
    deadline: Instant,
    /// The anonymous token and the origin (`scheme://host:port`) whose challenge it answers:
    /// it is sent to that origin only, on whichever hop of a redirect chain reaches it.
    token: Option<(String, String)>,
}

impl<'a> Session<'a> {
    fn new(reference: &'a str, image: &'a ImageRef, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("meshproof/{}", meshproof_core::TOOL_VERSION))
            .build()
            .into();
        Session {
            reference,
            image,
            agent,
            deadline: Instant::now() + timeout,
            token: None,
        }
    }

    fn err(&self, reason: impl Into<String>) -> InstallError {
        InstallError::Registry {
            reference: self.reference.to_string(),
            reason: reason.into(),
        }
    }

    fn not_found(&self, a: &Answer) -> InstallError {
        self.err(format!(
            "tag `{}` not found in registry {}: {}{} (the tag or the repository `{}` does not exist)",
            self.image.tag.as_deref().unwrap_or(DEFAULT_TAG),
            self.image.registry,
            a.what(),
            a.error_details(),
            self.image.repository,
        ))
    }

    fn unexpected(&self, a: &Answer) -> InstallError {
        let hint = match a.status {
            403 => ": the registry denies anonymous pulls of this repository",
            429 => ": rate limited by the registry; try again later",
            500..=599 => ": the registry failed; try again later",
            _ => "",
        };
        self.err(format!("{}{}{hint}", a.what(), a.error_details()))
    }

    fn resolve(mut self) -> Result<String, InstallError> {
        let url = self.image.manifest_url();
        let head = self.call(Method::Head, &url)?;
        match head.status {
            200..=299 => {
                self.check_media_type(&head)?;
                if let Some(d) = head
                    .header("docker-content-digest")
                    .map(str::trim)
                    .filter(|d| is_sha256_digest(d))
                {
                    return Ok(d.to_string());
                }
                // No usable digest header: hash the manifest itself.
            }
            404 => return Err(self.not_found(&head)),
            // HEAD not supported: GET instead.
            405 | 501 => {}
            _ => return Err(self.unexpected(&head)),
        }
        let get = self.call(Method::Get, &url)?;
        match get.status {
            200..=299 => self.digest_of_body(&get),
            404 => Err(self.not_found(&get)),
            _ => Err(self.unexpected(&get)),
        }
    }

    /// Schema 1 manifests have no stable digest across registries and are not asked for.
    fn check_media_type(&self, a: &Answer) -> Result<(), InstallError> {
        match a.media_type() {
            Some(mt) if mt.starts_with("application/vnd.docker.distribution.manifest.v1") => {
                Err(self.err(format!(
                    "{} with a Docker schema 1 manifest ({mt}), which meshproof does not resolve \
                     (it asked for {})",
                    a.what(),
                    MANIFEST_MEDIA_TYPES.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// sha256 of a manifest body, checked against the body's shape and `Docker-Content-Digest`.
    fn digest_of_body(&self, a: &Answer) -> Result<String, InstallError> {
        self.check_media_type(a)?;
        let manifest: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| {
            self.err(format!(
                "{} with a body that is not a JSON manifest (content type {}): {e}",
                a.what(),
                a.media_type().as_deref().unwrap_or("none")
            ))
        })?;
        if manifest.get("schemaVersion").and_then(|v| v.as_u64()) != Some(2) {
            return Err(self.err(format!(
                "{} with a manifest without `schemaVersion: 2`",
                a.what()
            )));
        }
        if let Some(mt) = manifest.get("mediaType").and_then(|v| v.as_str()) {
            if !MANIFEST_MEDIA_TYPES.contains(&mt) {
                return Err(self.err(format!(
                    "{} with a manifest of media type {mt}, which meshproof does not resolve",
                    a.what()
                )));
            }
        }
        let computed = format!("sha256:{}", meshproof_core::sha256_hex(&a.body));
        if let Some(said) = a.header("docker-content-digest").map(str::trim) {
            let matches = match said.split_once(':') {
                Some(("sha256", _)) => said == computed,
                Some(("sha512", hex)) => {
                    use sha2::Digest as _;
                    hex == hex::encode(sha2::Sha512::digest(&a.body))
                }
                _ => {
                    return Err(self.err(format!(
                        "{} with Docker-Content-Digest `{said}`, which is not a sha256 or sha512 \
                         digest; refusing it",
                        a.what()
                    )))
                }
            };
            if !matches {
                return Err(self.err(format!(
                    "the registry says the manifest at {} has digest {said} (Docker-Content-Digest), \
                     but its {} bytes hash to {computed}; refusing it",
                    a.url,
                    a.body.len()
                )));
            }
        }
        Ok(computed)
    }

    /// A manifest request; on a 401 the anonymous token is fetched once and the request retried.
    fn call(&mut self, method: Method, url: &str) -> Result<Answer, InstallError> {
        let accept = MANIFEST_MEDIA_TYPES.join(", ");
        let token = self.token.clone();
        let first = self.send(method, url, &accept, token.as_ref(), MAX_MANIFEST_BYTES)?;
        if first.status != 401 {
            return Ok(first);
        }
        // The challenge comes from whichever host answered (after redirects, e.g. cr.l5d.io →
        // ghcr.io); its token belongs to that host only.
        let challenger = origin_of(&first.url).to_string();
        if token
            .as_ref()
            .is_some_and(|(origin, _)| *origin == challenger)
        {
            return Err(self.refused(&first));
        }
        let fresh = self.fetch_token(&first)?;
        self.token = Some((challenger, fresh));
        let token = self.token.clone();
        let again = self.send(method, url, &accept, token.as_ref(), MAX_MANIFEST_BYTES)?;
        if again.status == 401 {
            return Err(self.refused(&again));
        }
        Ok(again)
    }

    fn refused(&self, a: &Answer) -> InstallError {
        self.err(format!(
            "registry refused anonymous access: {} even with an anonymous token{} (meshproof does \
             not log in; the image may be private or the name misspelled)",
            a.what(),
            a.error_details()
        ))
    }

    /// Fetch an anonymous token for the `Bearer` challenge of a 401 answer.
    fn fetch_token(&self, a: &Answer) -> Result<String, InstallError> {
        let values: Vec<&str> = a
            .headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(self.err(format!(
                "{} without a WWW-Authenticate challenge, so no anonymous token can be asked for",
                a.what()
            )));
        }
        let mut challenges = Vec::new();
        for v in &values {
            challenges.extend(parse_challenges(v).map_err(|e| {
                self.err(format!(
                    "{} with a malformed WWW-Authenticate challenge: {e}",
                    a.what()
                ))
            })?);
        }
        let Some(bearer) = challenges
            .iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        else {
            let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
            return Err(self.err(format!(
                "registry refused anonymous access: {} asking for {} authentication; meshproof \
                 only pulls anonymously (with a Bearer token)",
                a.what(),
                schemes.join(", ")
            )));
        };
        let url = token_url(bearer, &self.image.repository).map_err(|e| {
            self.err(format!(
                "{} with a malformed WWW-Authenticate challenge: {e}",
                a.what()
            ))
        })?;
        let answer = self.send(Method::Get, &url, "application/json", None, MAX_TOKEN_BYTES)?;
        if !(200..=299).contains(&answer.status) {
            return Err(self.err(format!(
                "token endpoint: {}{}",
                answer.what(),
                answer.error_details()
            )));
        }
        let bad = |why: &str| self.err(format!("token endpoint: {} {why}", answer.what()));
        let json: serde_json::Value = serde_json::from_slice(&answer.body)
            .map_err(|_| bad("with a body that is not JSON"))?;
        let token = ["token", "access_token"]
            .iter()
            .find_map(|k| {
                json.get(*k)
                    .and_then(|v| v.as_str())
                    .filter(|t| !t.is_empty())
            })
            .ok_or_else(|| bad("without a `token` or `access_token`"))?;
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("with a token that cannot go in a header"));
        }
        Ok(token.to_string())
    }

    /// One request, following up to [`MAX_REDIRECTS`] redirects (each target checked like the
    /// first; `token` is `(origin, token)` and goes only to a hop at that origin). 2xx bodies over `limit`
    /// are errors; other bodies are read up to [`MAX_ERROR_BYTES`] for their error details.
    fn send(
        &self,
        method: Method,
        url: &str,
        accept: &str,
        token: Option<&(String, String)>,
        limit: u64,
    ) -> Result<Answer, InstallError> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            if !is_fetchable_url(&url) {
                return Err(self.err(format!(
                    "{url}: only https URLs (or http on the loopback interface) are fetched"
                )));
            }
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.err(format!(
                    "{} {url}: gave up, the registry took longer than the time allowed",
                    method.name()
                )));
            }
            let net = |e: ureq::Error| self.err(format!("{} {url}: {e}", method.name()));
            let bearer = token
                .filter(|(origin, _)| origin_of(&url) == origin.as_str())
                .map(|(_, t)| format!("Bearer {t}"));
            let resp = match method {
                Method::Head => {
                    let mut r = self.agent.head(&url).header("Accept", accept);
                    if let Some(b) = &bearer {
                        r = r.header("Authorization", b);
                    }
                    r.config().timeout_global(Some(remaining)).build().call()
                }
                Method::Get => {
                    let mut r = self.agent.get(&url).header("Accept", accept);
                    if let Some(b) = &bearer {
                        r = r.header("Authorization", b);
                    }
                    r.config().timeout_global(Some(remaining)).build().call()
                }
            };
            let mut resp = resp.map_err(net)?;
            let status = resp.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        self.err(format!(
                            "{} {url} answered {status} without a Location",
                            method.name()
                        ))
                    })?;
                url = join_location(&url, location);
                continue;
            }
            let body = if method == Method::Head {
                Vec::new()
            } else if (200..=299).contains(&status) {
                resp.body_mut()
                    .with_config()
                    .limit(limit)
                    .read_to_vec()
                    .map_err(|e| match e {
                        ureq::Error::BodyExceedsLimit(_) => self.err(format!(
                            "GET {url}: the answer is larger than {limit} bytes; refusing it"
                        )),
                        e => net(e),
                    })?
            } else {
                resp.body_mut()
                    .with_config()
                    .limit(MAX_ERROR_BYTES)
                    .read_to_vec()
                    .unwrap_or_default()
            };
            return Ok(Answer {
                method,
                url,
                status,
                headers: resp.headers().clone(),
                body,
            });
        }
        Err(self.err(format!(
            "{} {url}: more than {MAX_REDIRECTS} redirects",
            method.name()
        )))
    }
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after + i);
    &url[..end]
}

/// Resolve a `Location` header against the URL that answered with it.
fn join_location(base: &str, location: &str) -> String {
    if location.starts_with("https://") || location.starts_with("http://") {
        return location.to_string();
    }
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        return format!("{scheme}://{rest}");
    }
    let origin = origin_of(base);
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = base[origin.len()..].split(['?', '#']).next().unwrap_or("");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    format!("{origin}{dir}{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "Bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.example/token"));
        assert_eq!(c[0].param("SERVICE"), Some("registry.example"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));

        // Several challenges, token values, escapes, odd spacing.
        let c = parse_challenges(
            r#"Basic realm="x, y", Bearer  realm = "https://a/t" , error=insufficient_scope, scope="q\"uote""#,
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "Basic");
        assert_eq!(c[0].param("realm"), Some("x, y"));
        assert_eq!(c[1].param("realm"), Some("https://a/t"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
        assert_eq!(c[1].param("scope"), Some("q\"uote"));

        // token68, then another challenge.
        let c = parse_challenges("Basic dXNlcjpwYXNz==, Bearer realm=\"r\"").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].param("realm"), Some("r"));
        // `realm=` with nothing after is a token68, so the challenge has no realm.
        let c = parse_challenges("Bearer realm=").unwrap();
        assert_eq!(c[0].param("realm"), None);

        for bad in [
            "",
            r#"Bearer realm="unterminated"#,
            r#"Bearer realm="a" service="b""#,
            "=x",
        ] {
            assert!(parse_challenges(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn builds_token_urls() {
        let c = &parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="reg example",scope="repository:a/b:pull""#,
        )
        .unwrap()[0];
        assert_eq!(
            token_url(c, "ignored").unwrap(),
            "https://auth.example/token?service=reg%20example&scope=repository%3Aa%2Fb%3Apull"
        );
        let c = &parse_challenges(r#"Bearer realm="https://a/t?x=1""#).unwrap()[0];
        assert_eq!(
            token_url(c, "lib/n").unwrap(),
            "https://a/t?x=1&scope=repository%3Alib%2Fn%3Apull"
        );
        let c = &parse_challenges(r#"Bearer realm="https://a/t",scope="s1 s2""#).unwrap()[0];
        assert_eq!(token_url(c, "x").unwrap(), "https://a/t?scope=s1&scope=s2");
        let c = &parse_challenges(r#"Bearer service="x""#).unwrap()[0];
        assert!(token_url(c, "x").unwrap_err().contains("no realm"));
    }

    #[test]
    fn joins_redirect_locations() {
        let base = "https://r.example:5000/v2/a/manifests/t?x=1";
        assert_eq!(origin_of(base), "https://r.example:5000");
        assert_eq!(join_location(base, "https://o/p"), "https://o/p");
        assert_eq!(join_location(base, "//o/p"), "https://o/p");
        assert_eq!(join_location(base, "/p"), "https://r.example:5000/p");
        assert_eq!(
            join_location(base, "u"),
            "https://r.example:5000/v2/a/manifests/u"
        );
    }

    #[test]
    fn digested_reference_resolves_without_network() {
        // Port 9 (discard) on a host that does not exist: any request would fail.
        let r = format!("registry.invalid:9/a/b:t@{D}");
        assert_eq!(resolve(&r).unwrap(), D);
    }
}
