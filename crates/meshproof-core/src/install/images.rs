//! Image pinning: rewrite the `image:` fields of rendered manifests to `name@sha256:…` using the
//! digests observed in pod statuses (recorded in `resolved/images.json`), so `reproduce` can
//! install exactly the bits the original run ran.

use std::collections::BTreeMap;

use super::reference::ImageRef;

/// What a rewrite did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrite {
    pub text: String,
    /// `reference → pinned reference`, for every rewritten image.
    pub pinned: BTreeMap<String, String>,
    /// Images with no known digest (left as they were).
    pub unresolved: Vec<String>,
}

/// The repository part of a reference, without tag or digest (`docker.io/a/b:1@sha256:x` → `docker.io/a/b`).
pub fn repository(reference: &str) -> &str {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    // A `:` after the last `/` starts a tag; one before it is a registry port.
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

/// Normalize the digest side of an observed image id: `docker-pullable://x@sha256:…`,
/// `x@sha256:…` or `sha256:…` → `sha256:…`.
fn digest_of(image_id: &str) -> Option<&str> {
    let d = image_id.rsplit('@').next().unwrap_or(image_id);
    let d = d.trim_start_matches("docker-pullable://");
    crate::spec::is_sha256_digest(d).then_some(d)
}

/// Rewrite every `image:` field whose reference is in `digests` (reference as written in the
/// manifest → image id from the pod status, e.g. `sha256:…` or `repo@sha256:…`).
/// References already pinned by digest are left alone. Quoting and indentation are kept.
pub fn pin_images(rendered: &str, digests: &BTreeMap<String, String>) -> Rewrite {
    let mut out = Rewrite::default();
    let mut text = String::with_capacity(rendered.len());
    for line in rendered.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        text.push_str(&rewrite_line(body, digests, &mut out));
        text.push_str(nl);
    }
    out.text = text;
    out.unresolved.sort();
    out.unresolved.dedup();
    out
}

/// Every image reference `rendered` names by tag only (sorted, once each): what a lock resolves.
pub fn references(rendered: &str) -> Vec<String> {
    pin_images(rendered, &BTreeMap::new()).unresolved
}

/// Pod statuses name images as the runtime normalized them (`docker.io/library/nginx:1`); try
/// the reference as written, then its normalized form ([`ImageRef::canonical`], the form the
/// registry client resolves), then the Docker Hub prefixes alone.
fn lookup<'a>(digests: &'a BTreeMap<String, String>, reference: &str) -> Option<&'a str> {
    let canonical = ImageRef::parse(reference).ok().map(|r| r.canonical());
    [
        Some(reference.to_string()),
        canonical,
        Some(format!("docker.io/{reference}")),
        Some(format!("docker.io/library/{reference}")),
    ]
    .into_iter()
    .flatten()
    .find_map(|k| digests.get(&k))
    .map(String::as_str)
}

fn rewrite_line(line: &str, digests: &BTreeMap<String, String>, out: &mut Rewrite) -> String {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let (dash, rest) = match trimmed.strip_prefix("- ") {
        Some(r) => ("- ", r.trim_start()),
        None => ("", trimmed),
    };
    let Some(value) = rest.strip_prefix("image:") else {
        return line.to_string();
    };
    let value = value.trim();
    let (value, comment) = match value.find(" #") {
        Some(i) => (value[..i].trim_end(), &value[i..]),
        None => (value, ""),
    };
    let (quote, reference) = match value.chars().next() {
        Some(q @ ('"' | '\'')) if value.len() >= 2 && value.ends_with(q) => {
            (q.to_string(), &value[1..value.len() - 1])
        }
        _ => (String::new(), value),
    };
    if reference.is_empty() || reference.contains('@') {
        return line.to_string();
    }
    let Some(d) = lookup(digests, reference).and_then(digest_of) else {
        out.unresolved.push(reference.to_string());
        return line.to_string();
    };
    let pinned = format!("{}@{d}", repository(reference));
    out.pinned.insert(reference.to_string(), pinned.clone());
    format!("{indent}{dash}image: {quote}{pinned}{quote}{comment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// A pod status names the image in the form the registry client resolves (registry, repository
    /// and the implied `latest` tag): the manifest's short form still finds it.
    #[test]
    fn references_are_found_in_their_canonical_form() {
        let digests = BTreeMap::from([
            ("ghcr.io/team/app:latest".to_string(), D.to_string()),
            ("docker.io/library/nginx:1.25".to_string(), D.to_string()),
        ]);
        let r = pin_images(
            "      image: ghcr.io/team/app\n      image: nginx:1.25\n      image: other:1\n",
            &digests,
        );
        assert_eq!(
            r.text,
            format!(
                "      image: ghcr.io/team/app@{D}\n      image: nginx@{D}\n      image: other:1\n"
            )
        );
        assert_eq!(r.unresolved, vec!["other:1".to_string()]);
    }
}
