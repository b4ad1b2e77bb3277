//! The bundle format's versions and typed records: which bundles this build can read
//! ([`FormatVersion`], after nextest's `check_readable_by`), which renderings a bundle's
//! `report/` files are ([`REPORT_FORMAT`], [`RenderReports`]), and what the runner records in
//! `manifest.json` `run` ([`RunExtras`]).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::Manifest;
use crate::verdict::Verdicts;

/// Format version written by this meshproof; readers refuse other majors.
pub const FORMAT_MAJOR: u32 = 1;
/// 1: run status `incomplete`; `rejudged_from` in the manifest. 2: observations format 2 and
/// verdicts format 3 (outcome classes judged with the mesh pin's signatures); bundles of 1.0 and
/// 1.1 are read, and `verify` names their older observation format instead of re-judging them.
pub const FORMAT_MINOR: u32 = 2;

/// The renderings of `report/` (JUnit, Markdown summary, Meshery export) this build writes.
/// Their bytes are a function of the verdicts, the manifest, the mesh pin and this number: a
/// change to what a renderer writes bumps it together with [`FORMAT_MINOR`], and
/// [`FormatVersion::report_format`] learns which bundle minors hold which report format. A
/// bundle of an older report format keeps its reports as they were rendered (`verify` checks
/// them against `SHA256SUMS` and says it did not re-render them); it is not failed for being old.
///
/// 1: the renderings of every meshproof up to bundle format 1.2 (they were not versioned
/// before; such a bundle whose meshproof rendered differently fails the comparison, naming it).
pub const REPORT_FORMAT: u32 = 1;

/// `{major, minor}` of a bundle's format, as `manifest.json` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FormatVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How a readable bundle's format relates to the reader's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readable {
    /// The format the reader writes.
    Current,
    /// An older minor of the reader's major: read as it was written (fields added since are
    /// absent and read as such).
    OlderMinor,
    /// A newer minor of the reader's major: a minor only adds, so every field the reader knows
    /// means what it knows; what it does not know it ignores. Its reports may be of a newer
    /// report format (`verify` says so when they differ).
    NewerMinor,
}

/// Why a bundle cannot be read by this build: its major differs. Both versions are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatIncompatible {
    #[error(
        "unsupported bundle format {bundle} (this meshproof reads {}.x): the bundle is of a newer \
         major format; read it with a meshproof that reads format {}.x",
        reader.major,
        bundle.major
    )]
    NewerMajor {
        bundle: FormatVersion,
        reader: FormatVersion,
    },
    #[error(
        "unsupported bundle format {bundle} (this meshproof reads {}.x): the bundle is of an older \
         major format; read it with the meshproof that wrote it (manifest.json `tool`)",
        reader.major
    )]
    OlderMajor {
        bundle: FormatVersion,
        reader: FormatVersion,
    },
}

impl FormatVersion {
    /// The format this build writes.
    pub const CURRENT: FormatVersion = FormatVersion {
        major: FORMAT_MAJOR,
        minor: FORMAT_MINOR,
    };

    /// Whether a bundle of this format can be read by a meshproof that writes `reader`: the
    /// same major is readable whatever its minor (older minors as written, newer ones for what
    /// the reader knows); another major, older or newer, is refused naming both versions.
    pub fn check_readable_by(self, reader: FormatVersion) -> Result<Readable, FormatIncompatible> {
        use std::cmp::Ordering;
        match (self.major.cmp(&reader.major), self.minor.cmp(&reader.minor)) {
            (Ordering::Greater, _) => Err(FormatIncompatible::NewerMajor {
                bundle: self,
                reader,
            }),
            (Ordering::Less, _) => Err(FormatIncompatible::OlderMajor {
                bundle: self,
                reader,
            }),
            (Ordering::Equal, Ordering::Equal) => Ok(Readable::Current),
            (Ordering::Equal, Ordering::Less) => Ok(Readable::OlderMinor),
            (Ordering::Equal, Ordering::Greater) => Ok(Readable::NewerMinor),
        }
    }

    /// The report format of a bundle of this format, when this build knows it (`None`: a
    /// newer minor or another major).
    pub fn report_format(self) -> Option<u32> {
        match (self.major, self.minor) {
            (1, 0..=2) => Some(1),
            _ => None,
        }
    }
}

/// The `report/` files of a bundle, rendered from its verdicts and manifest. Implemented above
/// the bundle layer (`crate::report::BundleReports`): `bundle` writes and checks these files
/// without knowing how they are rendered.
pub trait RenderReports {
    /// The report format of these renderings ([`REPORT_FORMAT`] for this build's).
    fn format(&self) -> u32;
    /// Path under `report/` → bytes. Meshery's export exists only for complete runs.
    fn render(
        &self,
        verdicts: &Verdicts,
        manifest: &Manifest,
        mesh_pin: Option<&[u8]>,
    ) -> BTreeMap<String, Vec<u8>>;
}

/// A timed phase of a run: what progress lines and JSON events name, and what the manifest
/// records. Written as its name (`preflight`, `cluster`, `workload image`, `mesh`,
/// `case <name>`, `evidence`, `teardown`), the same strings bundles have always carried.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The machine is checked (tools, Docker, the kind binary); nothing written yet.
    Preflight,
    /// The kind cluster is created, or the external one connected.
    Cluster,
    /// The workload image is loaded into the nodes (or named for an external cluster).
    WorkloadImage,
    /// The mesh is installed (or the installed one recorded).
    Mesh,
    /// One case of the suite.
    Case(String),
    /// Evidence of the mesh and the nodes, before anything is deleted.
    Evidence,
    /// The cluster is deleted (or kept).
    Teardown,
    /// A name this build does not know (a bundle from another build, or hostile input): kept
    /// as written.
    Other(String),
}

impl Phase {
    /// The phase's recorded name.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Phase::Preflight => Cow::Borrowed("preflight"),
            Phase::Cluster => Cow::Borrowed("cluster"),
            Phase::WorkloadImage => Cow::Borrowed("workload image"),
            Phase::Mesh => Cow::Borrowed("mesh"),
            Phase::Case(name) => Cow::Owned(format!("case {name}")),
            Phase::Evidence => Cow::Borrowed("evidence"),
            Phase::Teardown => Cow::Borrowed("teardown"),
            Phase::Other(name) => Cow::Borrowed(name),
        }
    }

    /// The phase a recorded name stands for; every string is some phase (unknown ones are
    /// [`Phase::Other`]), and `Phase::parse(&p.name()) == p`.
    pub fn parse(name: &str) -> Phase {
        match name {
            "preflight" => Phase::Preflight,
            "cluster" => Phase::Cluster,
            "workload image" => Phase::WorkloadImage,
            "mesh" => Phase::Mesh,
            "evidence" => Phase::Evidence,
            "teardown" => Phase::Teardown,
            other => match other.strip_prefix("case ") {
                Some(case) => Phase::Case(case.to_string()),
                None => Phase::Other(other.to_string()),
            },
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Phase::parse(&name))
    }
}

/// One phase of a run, in the order the phases started (`run.phases`, shown by `crate::timing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTiming {
    pub phase: Phase,
    /// Wall time from the phase's start to its end.
    pub duration_ms: u64,
    /// Whether the phase succeeded.
    pub ok: bool,
}

/// Where a run's cluster came from (`run.cluster_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterMode {
    /// An ephemeral kind cluster of the pinned cluster spec.
    Kind,
    /// An existing cluster (`run --kubeconfig`): recorded as found, nothing about it pinned.
    External,
}

/// The external cluster a run used (`run.external_cluster`): what reports name instead of the
/// kind pin, which only a reproduction would use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalCluster {
    /// The kubeconfig context.
    pub context: String,
    /// The API server's version (`null` when it was not recorded).
    pub server_version: Option<String>,
}

/// What the runner records in `manifest.json` `run` besides the fields every run has. Flattened
/// into `run` with its keys in sorted order, as a map; every field is optional (hand-made run
/// directories and older bundles record fewer). Read from hostile bundles without failing: a
/// value of the wrong shape is kept as written in [`RunExtras::malformed`] (so a re-pack writes it
/// back unchanged) and named by the reader that needs it; keys this build does not know are
/// kept in [`RunExtras::other`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunExtras {
    /// `cluster_mode`.
    pub cluster_mode: Option<ClusterMode>,
    /// `external_cluster`: only for [`ClusterMode::External`].
    pub external_cluster: Option<ExternalCluster>,
    /// `failure`: the infrastructure error that ended the run early.
    pub failure: Option<String>,
    /// `force`: `true` when the plan was forced (`run --force`).
    pub force: Option<bool>,
    /// `forced`: why the cluster was outside the mesh pin's known Kubernetes versions.
    pub forced: Option<String>,
    /// `mesh_installed_by_user`: `run --mesh-installed`.
    pub mesh_installed_by_user: Option<bool>,
    /// `overrides`: what `reproduce`/`rerun` ran differently from the parent's inputs, and why.
    pub overrides: Option<BTreeMap<String, String>>,
    /// `phases`: the phases' wall times.
    pub phases: Option<Vec<PhaseTiming>>,
    /// `timeout_scale`: `run --timeout-scale`.
    pub timeout_scale: Option<f64>,
    /// Known keys whose value has another shape: the value as written and why it was not read.
    pub malformed: BTreeMap<String, (Value, String)>,
    /// Keys this build does not know, as written.
    pub other: BTreeMap<String, Value>,
}

/// One value of [`RunExtras`] to serialize, borrowed.
enum ExtraValue<'a> {
    Mode(ClusterMode),
    External(&'a ExternalCluster),
    Text(&'a str),
    Flag(bool),
    Map(&'a BTreeMap<String, String>),
    Phases(&'a [PhaseTiming]),
    Number(f64),
    Raw(&'a Value),
}

impl Serialize for ExtraValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExtraValue::Mode(v) => v.serialize(s),
            ExtraValue::External(v) => v.serialize(s),
            ExtraValue::Text(v) => v.serialize(s),
            ExtraValue::Flag(v) => v.serialize(s),
            ExtraValue::Map(v) => v.serialize(s),
            ExtraValue::Phases(v) => v.serialize(s),
            ExtraValue::Number(v) => v.serialize(s),
            ExtraValue::Raw(v) => v.serialize(s),
        }
    }
}

impl RunExtras {
    /// The keys of the typed fields, in sorted order.
    pub const KEYS: [&'static str; 9] = [
        "cluster_mode",
        "external_cluster",
        "failure",
        "force",
        "forced",
        "mesh_installed_by_user",
        "overrides",
        "phases",
        "timeout_scale",
    ];

    /// Every recorded key and value, sorted by key.
    fn entries(&self) -> Vec<(&str, ExtraValue<'_>)> {
        let known: [(&str, Option<ExtraValue<'_>>); 9] = [
            ("cluster_mode", self.cluster_mode.map(ExtraValue::Mode)),
            (
                "external_cluster",
                self.external_cluster.as_ref().map(ExtraValue::External),
            ),
            ("failure", self.failure.as_deref().map(ExtraValue::Text)),
            ("force", self.force.map(ExtraValue::Flag)),
            ("forced", self.forced.as_deref().map(ExtraValue::Text)),
            (
                "mesh_installed_by_user",
                self.mesh_installed_by_user.map(ExtraValue::Flag),
            ),
            ("overrides", self.overrides.as_ref().map(ExtraValue::Map)),
            ("phases", self.phases.as_deref().map(ExtraValue::Phases)),
            ("timeout_scale", self.timeout_scale.map(ExtraValue::Number)),
        ];
        let mut out: Vec<(&str, ExtraValue<'_>)> = known
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let set: Vec<&str> = out.iter().map(|(k, _)| *k).collect();
        for (k, (v, _)) in &self.malformed {
            if !set.contains(&k.as_str()) {
                out.push((k, ExtraValue::Raw(v)));
            }
        }
        for (k, v) in &self.other {
            if !Self::KEYS.contains(&k.as_str()) {
                out.push((k, ExtraValue::Raw(v)));
            }
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Read the keys of `run` that are not [`super::RunInfo`]'s own fields.
    fn from_map(map: BTreeMap<String, Value>) -> RunExtras {
        let mut x = RunExtras::default();
        for (k, v) in map {
            let read = match k.as_str() {
                "cluster_mode" => typed(&v).map(|t| x.cluster_mode = Some(t)),
                "external_cluster" => typed(&v).map(|t| x.external_cluster = Some(t)),
                "failure" => typed(&v).map(|t| x.failure = Some(t)),
                "force" => typed(&v).map(|t| x.force = Some(t)),
                "forced" => typed(&v).map(|t| x.forced = Some(t)),
                "mesh_installed_by_user" => typed(&v).map(|t| x.mesh_installed_by_user = Some(t)),
                "overrides" => typed(&v).map(|t| x.overrides = Some(t)),
                "phases" => typed(&v).map(|t| x.phases = Some(t)),
                "timeout_scale" => typed(&v).map(|t| x.timeout_scale = Some(t)),
                _ => {
                    x.other.insert(k, v);
                    continue;
                }
            };
            if let Err(e) = read {
                x.malformed.insert(k, (v, e.to_string()));
            }
        }
        x
    }

    /// Why the recorded value of `key` could not be read (`None`: absent or read).
    pub fn malformed(&self, key: &str) -> Option<&str> {
        self.malformed.get(key).map(|(_, why)| why.as_str())
    }
}

/// A recorded value read as `T`; `null` is read as a value, not as an absent key.
fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(v)
}

impl Serialize for RunExtras {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = self.entries();
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (k, v) in &entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RunExtras {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, Value>::deserialize(d).map(RunExtras::from_map)
    }
}

/// `manifest.json` of a run directory, as the runner writes it: the `run` section alone
/// (`bundle pack` adds the format, the tool and the inputs' digests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub run: super::RunInfo,
}

impl RunManifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("run manifest serializes");
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32) -> FormatVersion {
        FormatVersion { major, minor }
    }

    #[test]
    fn the_same_version_is_readable() {
        assert_eq!(
            FormatVersion::CURRENT.check_readable_by(FormatVersion::CURRENT),
            Ok(Readable::Current)
        );
    }

    #[test]
    fn older_minors_of_the_same_major_are_readable() {
        assert_eq!(v(1, 0).check_readable_by(v(1, 2)), Ok(Readable::OlderMinor));
        assert_eq!(v(1, 1).check_readable_by(v(1, 2)), Ok(Readable::OlderMinor));
    }

    #[test]
    fn newer_minors_of_the_same_major_are_readable() {
        assert_eq!(v(1, 3).check_readable_by(v(1, 2)), Ok(Readable::NewerMinor));
    }

    #[test]
    fn newer_majors_are_refused_naming_both_versions() {
        let e = v(2, 0).check_readable_by(v(1, 2)).unwrap_err();
        assert_eq!(
            e,
            FormatIncompatible::NewerMajor {
                bundle: v(2, 0),
                reader: v(1, 2)
            }
        );
        let text = e.to_string();
        assert!(
            text.starts_with("unsupported bundle format 2.0 (this meshproof reads 1.x)")
                && text.contains("a meshproof that reads format 2.x"),
            "{text}"
        );
    }

    #[test]
    fn older_majors_are_refused_naming_both_versions() {
        let e = v(0, 9).check_readable_by(v(1, 2)).unwrap_err();
        assert!(matches!(e, FormatIncompatible::OlderMajor { .. }));
        let text = e.to_string();
        assert!(
            text.starts_with("unsupported bundle format 0.9 (this meshproof reads 1.x)")
                && text.contains("older major format"),
            "{text}"
        );
    }

    #[test]
    fn report_formats_are_known_for_the_minors_this_build_knows() {
        for minor in 0..=FORMAT_MINOR {
            assert_eq!(v(1, minor).report_format(), Some(1), "1.{minor}");
        }
        assert_eq!(FormatVersion::CURRENT.report_format(), Some(REPORT_FORMAT));
        assert_eq!(v(1, FORMAT_MINOR + 1).report_format(), None);
        assert_eq!(v(2, 0).report_format(), None);
    }

    fn extras(json: &str) -> RunExtras {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn run_extras_are_written_as_a_sorted_map_with_unknown_keys_in_place() {
        let x = RunExtras {
            timeout_scale: Some(1.0),
            cluster_mode: Some(ClusterMode::External),
            external_cluster: Some(ExternalCluster {
                context: "ctx".into(),
                server_version: None,
            }),
            phases: Some(vec![PhaseTiming {
                phase: Phase::Cluster,
                duration_ms: 12,
                ok: true,
            }]),
            other: BTreeMap::from([("zz".to_string(), Value::from(1)), ("aa".to_string(), Value::from(2))]),
            ..RunExtras::default()
        };
        assert_eq!(
            serde_json::to_string(&x).unwrap(),
            r#"{"aa":2,"cluster_mode":"external","external_cluster":{"context":"ctx","server_version":null},"phases":[{"phase":"cluster","duration_ms":12,"ok":true}],"timeout_scale":1.0,"zz":1}"#
        );
        let back = extras(&serde_json::to_string(&x).unwrap());
        assert_eq!(back, x);
    }

    #[test]
    fn malformed_run_extras_are_kept_as_written_and_named() {
        let text = r#"{"failure":7,"phases":[{"phase":"x"}],"timeout_scale":2.5}"#;
        let x = extras(text);
        assert_eq!(x.timeout_scale, Some(2.5));
        assert_eq!(x.failure, None);
        assert_eq!(x.phases, None);
        assert!(x.malformed("failure").unwrap().contains("expected a string"), "{x:?}");
        assert!(x.malformed("phases").unwrap().contains("missing field `duration_ms`"), "{x:?}");
        assert_eq!(x.malformed("timeout_scale"), None);
        // Written back unchanged.
        assert_eq!(serde_json::to_string(&x).unwrap(), text);
    }

    #[test]
    fn a_run_manifest_is_the_run_section_alone() {
        let m: RunManifest = serde_json::from_str(
            r#"{"run":{"id":"r","status":"aborted","started_at":"a","finished_at":"b","failure":"kind: gone"}}"#,
        )
        .unwrap();
        assert_eq!(m.run.extra.failure.as_deref(), Some("kind: gone"));
        let text = String::from_utf8(m.to_json()).unwrap();
        assert!(text.starts_with("{\n  \"run\": {\n    \"id\": \"r\","), "{text}");
        assert!(text.ends_with("\"failure\": \"kind: gone\"\n  }\n}\n"), "{text}");
    }
}
