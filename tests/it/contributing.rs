//! CONTRIBUTING.md's walk-throughs, step by step, on a temporary copy of the inputs: adding a mesh
//! pin and adding a suite case, each checked the way the guide says (`meshproof list`, `meshproof
//! plan`), and a mistake in each step answered with the error the guide shows. When the guide
//! changes, this test changes with it.

use crate::common;

use std::path::Path;

/// The guide's example names.
const MESH: &str = "example-mesh";
const VERSION: &str = "0.1.0";
const CASE: &str = "example-case";

/// The guide is the file these steps follow: it still names them.
#[test]
fn the_guide_describes_these_steps() {
    let guide = std::fs::read_to_string(common::repo().join("CONTRIBUTING.md")).unwrap();
    for step in [
        "cp meshes/osm/1.2.4.yaml meshes/example-mesh/0.1.0.yaml",
        "meshproof list meshes",
        "meshproof plan --mesh example-mesh@0.1.0",
        "metadata.name/version must match the path",
        "cp -r suites/smi/traffic-access suites/smi/example-case",
        "meshproof plan --mesh osm@1.2.4 --only example-case",
        "found neither in",
    ] {
        assert!(
            guide.contains(step),
            "CONTRIBUTING.md no longer says `{step}`"
        );
    }
}

fn meshproof(root: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    common::bin().arg("--root").arg(root).args(args).assert()
}

fn out(a: &assert_cmd::assert::Assert) -> (String, String) {
    let o = a.get_output();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Steps 1–2 of "Add a mesh pin": copy the closest pin to `meshes/<mesh>/<version>.yaml`, then
/// set `metadata.name` and `metadata.version` (here to `version`, which may differ from the path).
fn add_mesh_pin(root: &Path, version_in_file: &str) {
    std::fs::create_dir_all(root.join("meshes").join(MESH)).unwrap();
    let template = std::fs::read_to_string(root.join("meshes/osm/1.2.4.yaml")).unwrap();
    let pin = template
        .replacen("  name: osm\n", &format!("  name: {MESH}\n"), 1)
        .replacen(
            "  version: \"1.2.4\"\n",
            &format!("  version: \"{version_in_file}\"\n"),
            1,
        )
        .replacen(
            "  description: Open Service Mesh 1.2.4",
            "  description: An example mesh (a copy of the OSM 1.2.4 pin)",
            1,
        );
    assert_ne!(pin, template);
    std::fs::write(
        root.join("meshes")
            .join(MESH)
            .join(format!("{VERSION}.yaml")),
        pin,
    )
    .unwrap();
}

#[test]
fn a_new_mesh_pin_is_listed_and_planned() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_catalog(tmp.path());
    add_mesh_pin(tmp.path(), VERSION);
    let id = format!("{MESH}@{VERSION}");

    // Step 3: `meshproof list meshes` shows it, `meshproof plan --mesh <mesh>@<version>` renders
    // it, and the rest of the catalog still plans.
    let (list, _) = out(&meshproof(tmp.path(), &["list", "meshes"]).code(0));
    assert!(list.lines().any(|l| l.starts_with(&id)), "{list}");
    let (plan, _) = out(&meshproof(tmp.path(), &["plan", "--mesh", &id]).code(0));
    assert!(
        plan.contains(&format!("mesh     {id} — ")),
        "the plan is not for {id}:\n{plan}"
    );
    assert!(plan.contains(&format!("meshes/{MESH}/{VERSION}.yaml  sha256:")));
    meshproof(tmp.path(), &["plan", "--mesh", "osm@1.2.4"]).code(0);
}

#[test]
fn a_mesh_pin_whose_version_does_not_match_its_path_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_catalog(tmp.path());
    // Step 2 half done: the version in the file is still the template's.
    add_mesh_pin(tmp.path(), "1.2.4");
    let (_, err) = out(&meshproof(tmp.path(), &["plan", "--mesh", MESH]).code(2));
    assert!(
        err.contains(&format!(
            "meshes/{MESH}/{VERSION}.yaml: metadata.name/version must match the path"
        )),
        "{err}"
    );
}

/// Steps 1–2 of "Add a suite case": copy the closest case folder, set `metadata.name` to the
/// folder's name.
fn add_case(root: &Path) -> std::path::PathBuf {
    let from = root.join("suites/smi/traffic-access");
    let dir = root.join("suites/smi").join(CASE);
    for (rel, bytes) in meshproof::spec::catalog::read_tree(&from).unwrap() {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let case = dir.join("case.yaml");
    let text = std::fs::read_to_string(&case).unwrap();
    assert_eq!(text.matches("  name: traffic-access\n").count(), 1);
    std::fs::write(
        &case,
        text.replacen("  name: traffic-access\n", &format!("  name: {CASE}\n"), 1),
    )
    .unwrap();
    dir
}

#[test]
fn a_new_case_is_planned_with_its_variant() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_catalog(tmp.path());
    add_case(tmp.path());

    // Step 3: `meshproof plan --mesh osm@1.2.4 --only <case>` plans it, with the variant the pin
    // serves, and without `--only` it is one of the cases.
    let (only, _) =
        out(&meshproof(tmp.path(), &["plan", "--mesh", "osm@1.2.4", "--only", CASE]).code(0));
    assert!(
        only.contains(&format!(
            "case {CASE} (traffic-access, layout access, variant access-v1alpha3"
        )),
        "{only}"
    );
    assert!(!only.contains("case traffic-access "), "{only}");
    let (all, _) = out(&meshproof(tmp.path(), &["plan", "--mesh", "osm@1.2.4"]).code(0));
    assert!(all.contains(&format!("case {CASE} (")), "{all}");
    assert!(all.contains("case traffic-access ("), "{all}");
}

#[test]
fn a_case_step_naming_a_missing_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_catalog(tmp.path());
    let dir = add_case(tmp.path());
    // A step names a file that is in no variant folder and not in `common/`.
    let case = dir.join("case.yaml");
    let text = std::fs::read_to_string(&case).unwrap();
    assert_eq!(text.matches("apply: [policy.yaml]").count(), 1, "{text}");
    std::fs::write(
        &case,
        text.replacen("apply: [policy.yaml]", "apply: [polcy.yaml]", 1),
    )
    .unwrap();
    let (_, err) =
        out(&meshproof(tmp.path(), &["plan", "--mesh", "osm@1.2.4", "--only", CASE]).code(2));
    assert!(
        err.contains(&format!("suites/smi/{CASE}/case.yaml:"))
            && err.contains("`polcy.yaml` found neither in `access-v1alpha3/` nor in `common/`"),
        "{err}"
    );
}
