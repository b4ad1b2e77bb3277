//! `meshproof list meshes|clusters|workloads|suites`: what the input catalog holds, as aligned
//! columns.

use std::io::Write;

use crate::cli::ListWhat;
use crate::error::AppError;
use crate::spec::catalog::Catalog;
use crate::spec::SpecError;

type Row = [String; 4];

pub fn command(catalog: &Catalog, what: ListWhat, out: &mut dyn Write) -> Result<(), AppError> {
    let rows = match what {
        ListWhat::Meshes => meshes(catalog)?,
        ListWhat::Clusters => clusters(catalog)?,
        ListWhat::Workloads => workloads(catalog)?,
        ListWhat::Suites => suites(catalog)?,
    };
    print_rows(out, &rows).map_err(super::io_err)
}

fn header(cells: [&str; 4]) -> Row {
    cells.map(str::to_string)
}

fn meshes(catalog: &Catalog) -> Result<Vec<Row>, SpecError> {
    let mut rows = vec![header(["MESH", "STATUS", "SMI", "DESCRIPTION"])];
    for m in catalog.meshes()? {
        let smi = if m.value.spec.smi.is_empty() {
            "-".to_string()
        } else {
            m.value
                .spec
                .smi
                .iter()
                .map(|(g, v)| format!("{}:{}", g.split('.').next().unwrap_or(g), v.join("+")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        rows.push([
            m.value.id(),
            m.value.spec.project.status.as_str().to_string(),
            smi,
            m.value.metadata.description.clone(),
        ]);
    }
    Ok(rows)
}

fn clusters(catalog: &Catalog) -> Result<Vec<Row>, SpecError> {
    let all = catalog.clusters()?;
    let default = catalog
        .select_cluster(crate::spec::catalog::DEFAULT_CLUSTER)
        .ok();
    let mut rows = vec![header(["CLUSTER", "KUBERNETES", "KIND", "DESCRIPTION"])];
    for c in all {
        let mut name = c.value.metadata.name.clone();
        if default.as_ref().is_some_and(|d| d.path == c.path) {
            name.push_str(" (kind-default)");
        }
        rows.push([
            name,
            c.value.spec.kubernetes_version.clone(),
            c.value.spec.kind.version.clone(),
            c.value.metadata.description.clone(),
        ]);
    }
    Ok(rows)
}

fn workloads(catalog: &Catalog) -> Result<Vec<Row>, SpecError> {
    let mut rows = vec![header(["WORKLOAD", "LAYOUTS", "DESCRIPTION", ""])];
    for w in catalog.workloads()? {
        let layouts: Vec<String> = w.value.spec.layouts.keys().cloned().collect();
        rows.push([
            w.value.metadata.name.clone(),
            layouts.join(", "),
            w.value.metadata.description.clone(),
            String::new(),
        ]);
    }
    Ok(rows)
}

fn suites(catalog: &Catalog) -> Result<Vec<Row>, SpecError> {
    let mut rows = vec![header(["SUITE/CASE", "SMI SPEC", "STEPS", "DESCRIPTION"])];
    for name in catalog.suite_names()? {
        let (suite, _) = catalog.suite(&name)?;
        for c in &suite.cases {
            rows.push([
                format!("{name}/{}", c.name()),
                c.case.spec.smi_spec.clone(),
                c.case.spec.steps.len().to_string(),
                c.case.metadata.description.clone(),
            ]);
        }
    }
    Ok(rows)
}

fn print_rows(out: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
