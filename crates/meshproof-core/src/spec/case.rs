//! The `Case` spec (`suites/smi/<case>/case.yaml`): ordered steps, their checks, and SMI API variants.
//!
//! A step may apply files, delete the objects of files, assert objects present (subset match) or
//! absent, send traffic with an expectation, and query the SMI metrics API. File names resolve
//! to `<case>/<variant>/<file>` when that exists, else to `<case>/common/<file>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::workload::{join, LayoutApps};
use super::{parse, Document, SpecError, Validator};
use crate::yaml::YamlError;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaseSpec {
    /// The SMI specification the case tests (`traffic-access`, `traffic-specs`, ...): the rollup key.
    pub smi_spec: String,
    /// SMI release the case follows (`v0.6.0`).
    pub spec_version: String,
    /// Workload layout the case runs against.
    pub layout: String,
    /// Part of the historical Meshery suite (counted by `--scoring meshery`).
    #[serde(default)]
    pub meshery: bool,
    /// API-version variants, most preferred first; the first one the cluster serves is used.
    pub variants: Vec<Variant>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Variant {
    pub name: String,
    /// SMI API group → version this variant's manifests use. Empty: always usable.
    #[serde(default)]
    pub apis: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apply: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assert: Option<Assert>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficCheck>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricsCheck>,
    /// Every workload pod must carry the mesh's data plane (the pin's `dataPlane`); a pod without
    /// it is a harness error naming the pod, never a verdict.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub data_plane: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Assert {
    /// Files whose objects must exist and contain the given fields (subset match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub present: Vec<String>,
    /// Files whose objects must not exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrafficCheck {
    /// Workload app that sends (the driver asks it to call).
    pub from: String,
    /// Service that is called (a name of the workload's layout).
    pub to: String,
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    /// Requests per attempt, each on a fresh connection.
    #[serde(default = "one")]
    pub count: u32,
    pub expect: Expect,
    /// Judged and reported, but never counted: not part of any capability, the step's outcome, or the
    /// check totals. For behaviour a test observes that no SMI specification requires.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub informational: bool,
}

fn default_method() -> String {
    "GET".to_string()
}

fn one() -> u32 {
    1
}

/// What the requests of one traffic check must show.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Expect {
    /// Every request succeeds (HTTP 200–399).
    Allowed,
    /// Every request fails: a status outside 200–399 or a transport error (reset, refused, ...).
    Denied,
    /// No expectation: the traffic only feeds a later check.
    Any,
    /// Every request succeeds and is answered by this backend.
    Only(String),
    /// Every request succeeds and each listed backend answers at least one.
    Spread(Vec<String>),
    /// Every request succeeds and the first backend answers more requests than the second.
    Greater(Vec<String>),
}

impl Expect {
    /// Traffic with an expectation is behavioural; `any` only generates traffic.
    pub fn is_behavioural(&self) -> bool {
        !matches!(self, Expect::Any)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsCheck {
    /// The resource whose TrafficMetrics are read (`deployments`/`app-b`).
    pub resource: MetricsResource,
    /// Read the resource's edges and pick the one towards this resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// Name of an earlier step whose traffic the counts must account for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts_from: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsResource {
    pub kind: String,
    pub name: String,
}

pub type Case = Document<CaseSpec>;

/// The HTTP methods a traffic check may send (RFC 9110 §9.3 and PATCH, RFC 5789), spelled as the
/// probe sends them.
pub const HTTP_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The `smiSpec` of a case that tests the harness, not an SMI specification: the data-path smoke
/// of the control run. Such a case uses no SMI API, runs only when no mesh is installed (under a
/// mesh its calls would depend on policy), and is left out of the SMI rollups.
pub const HARNESS_SPEC: &str = "harness";

/// The SMI specifications a case may test, in report order.
pub const SMI_SPECS: [&str; 4] = [
    "traffic-access",
    "traffic-specs",
    "traffic-split",
    "traffic-metrics",
];

/// Parse and validate a case file; `exists` tells whether a file of the case directory exists.
pub fn load(file: &str, text: &str, exists: &dyn Fn(&str) -> bool) -> Result<Case, SpecError> {
    let doc: Case = parse(file, text, "Case")?;
    let mut v = Validator::new(file, text);
    let s = &doc.spec;
    v.check(
        super::is_dns_label(&doc.metadata.name),
        "metadata.name",
        "must be a lowercase DNS label",
    );
    v.check(
        SMI_SPECS.contains(&s.smi_spec.as_str()) || s.smi_spec == HARNESS_SPEC,
        "spec.smiSpec",
        format!(
            "expected one of {} (or `{HARNESS_SPEC}` for a smoke test of the harness)",
            SMI_SPECS.join(", ")
        ),
    );
    v.check(
        s.smi_spec != HARNESS_SPEC || s.variants.iter().all(|var| var.apis.is_empty()),
        "spec.variants",
        "a harness case uses no SMI API: its variants name no `apis`",
    );
    v.check(
        !s.variants.is_empty(),
        "spec.variants",
        "needs at least one variant",
    );
    v.check(!s.steps.is_empty(), "spec.steps", "needs at least one step");
    validate_variants(&mut v, s);
    let mut seen = std::collections::BTreeSet::new();
    for (i, step) in s.steps.iter().enumerate() {
        let base = format!("spec.steps[{i}]");
        v.check(
            super::is_dns_label(&step.name),
            &format!("{base}.name"),
            "must be a lowercase DNS label",
        );
        v.check(
            seen.insert(step.name.clone()),
            &format!("{base}.name"),
            format!("duplicate step name `{}`", step.name),
        );
        let empty = step.apply.is_empty()
            && step.delete.is_empty()
            && step.assert.is_none()
            && step.traffic.is_empty()
            && step.metrics.is_empty();
        v.check(
            !empty,
            &base,
            "a step needs apply, delete, assert, traffic or metrics",
        );
        validate_step_files(&mut v, s, step, &base, exists);
        validate_traffic(&mut v, step, &base);
        for (j, m) in step.metrics.iter().enumerate() {
            if let Some(from) = &m.counts_from {
                v.check(
                    s.steps[..i]
                        .iter()
                        .any(|p| &p.name == from && !p.traffic.is_empty()),
                    &format!("{base}.metrics[{j}].countsFrom"),
                    format!("`{from}` is not an earlier step that sends traffic"),
                );
            }
        }
    }
    v.finish()?;
    Ok(doc)
}

/// `spec.variants`: names and the SMI API versions each variant uses.
fn validate_variants(v: &mut Validator<'_>, s: &CaseSpec) {
    for (i, var) in s.variants.iter().enumerate() {
        v.check(
            super::is_dns_label(&var.name) && var.name != "common",
            &format!("spec.variants[{i}].name"),
            "must be a lowercase DNS label other than `common`",
        );
        for (group, version) in &var.apis {
            let at = format!("spec.variants[{i}].apis.{group}");
            if !super::mesh::SMI_GROUPS.contains(&group.as_str()) {
                v.problem(&at, "unknown SMI API group");
            } else if let Some(p) = super::mesh::smi_version_problem(group, version) {
                v.problem(&at, p);
            }
        }
    }
}

/// A step's apply, delete and assert files: plain file names found in every variant's directory
/// or in `common/`.
fn validate_step_files(
    v: &mut Validator<'_>,
    s: &CaseSpec,
    step: &Step,
    base: &str,
    exists: &dyn Fn(&str) -> bool,
) {
    let assert = step.assert.clone().unwrap_or_default();
    let lists: [(&str, &Vec<String>); 4] = [
        ("apply", &step.apply),
        ("delete", &step.delete),
        ("assert.present", &assert.present),
        ("assert.absent", &assert.absent),
    ];
    for (field, files) in lists {
        for (j, f) in files.iter().enumerate() {
            let path = format!("{base}.{field}[{j}]");
            if !super::is_relative_file(f) || f.contains('/') {
                v.problem(
                    &path,
                    "must be a file name in the variant or common directory",
                );
                continue;
            }
            for var in &s.variants {
                if !exists(&format!("{}/{f}", var.name)) && !exists(&format!("common/{f}")) {
                    v.problem(
                        &path,
                        format!("`{f}` found neither in `{}/` nor in `common/`", var.name),
                    );
                }
            }
        }
    }
}

/// A step's traffic checks: counts, paths, methods and expectations that can be judged.
fn validate_traffic(v: &mut Validator<'_>, step: &Step, base: &str) {
    for (j, t) in step.traffic.iter().enumerate() {
        let path = format!("{base}.traffic[{j}]");
        v.check(
            (1..=1000).contains(&t.count),
            &format!("{path}.count"),
            "must be between 1 and 1000",
        );
        v.check(
            t.path.starts_with('/'),
            &format!("{path}.path"),
            "must start with `/`",
        );
        v.check(
            HTTP_METHODS.contains(&t.method.as_str()),
            &format!("{path}.method"),
            format!(
                "`{}` is not an HTTP method; expected one of {}",
                t.method,
                HTTP_METHODS.join(", ")
            ),
        );
        v.check(
            !(t.informational && t.expect == Expect::Any),
            &format!("{path}.informational"),
            "an `any` expectation has nothing to report",
        );
        match &t.expect {
            Expect::Spread(b) => v.check(
                b.len() >= 2,
                &format!("{path}.expect.spread"),
                "needs at least two backends",
            ),
            Expect::Greater(b) => v.check(
                b.len() == 2,
                &format!("{path}.expect.greater"),
                "needs exactly two backends: [more, less]",
            ),
            _ => {}
        }
    }
}

/// Names in the case's traffic checks that its workload layout does not define: `from` must be a
/// Deployment, `to` a Service, and the backends an expectation names must be probe names.
pub fn check_against_layout(
    file: &str,
    text: &str,
    case: &Case,
    layout: &LayoutApps,
) -> Vec<YamlError> {
    let mut v = Validator::new(file, text);
    let name = &case.spec.layout;
    for (i, step) in case.spec.steps.iter().enumerate() {
        for (j, t) in step.traffic.iter().enumerate() {
            let at = format!("spec.steps[{i}].traffic[{j}]");
            v.check(
                layout.deployments.contains(&t.from),
                &format!("{at}.from"),
                format!(
                    "`{}` is not an app of layout `{name}`; it has {}",
                    t.from,
                    join(&layout.deployments)
                ),
            );
            v.check(
                layout.services.contains(&t.to),
                &format!("{at}.to"),
                format!(
                    "`{}` is not a Service of layout `{name}`; it has {}",
                    t.to,
                    join(&layout.services)
                ),
            );
            let (field, named): (&str, &[String]) = match &t.expect {
                Expect::Only(b) => ("only", std::slice::from_ref(b)),
                Expect::Spread(b) => ("spread", b),
                Expect::Greater(b) => ("greater", b),
                _ => continue,
            };
            for (k, b) in named.iter().enumerate() {
                let path = match t.expect {
                    Expect::Only(_) => format!("{at}.expect.{field}"),
                    _ => format!("{at}.expect.{field}[{k}]"),
                };
                v.check(
                    layout.backends.contains(b),
                    &path,
                    format!(
                        "`{b}` is not a backend of layout `{name}`; its probes answer as {}",
                        join(&layout.backends)
                    ),
                );
            }
        }
    }
    v.into_problems()
}

impl Step {
    /// Behavioural steps carry traffic or metrics expectations; the others are preconditions.
    pub fn is_behavioural(&self) -> bool {
        self.traffic.iter().any(|t| t.expect.is_behavioural()) || !self.metrics.is_empty()
    }
}

impl CaseSpec {
    /// A smoke test of the harness ([`HARNESS_SPEC`]), not of an SMI specification.
    pub fn is_harness(&self) -> bool {
        self.smi_spec == HARNESS_SPEC
    }

    /// The first variant whose APIs are all served; `None` when none is.
    pub fn pick_variant(&self, served: &BTreeMap<String, Vec<String>>) -> Option<&Variant> {
        self.variants.iter().find(|v| {
            v.apis
                .iter()
                .all(|(g, ver)| served.get(g).is_some_and(|vs| vs.contains(ver)))
        })
    }
}
