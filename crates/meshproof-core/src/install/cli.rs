//! The mesh CLI install method's model: which pinned download a platform uses and the
//! commands `run` performs for a CLI pin (shown by `plan`). Downloading and running the CLI are
//! effects, in the `meshproof` crate's `install::cli`.

use super::InstallError;
use crate::spec::mesh::{Cli, CliDownload};

/// This machine's platform key, `<os>-<arch>` as `std::env::consts` names them (`linux-x86_64`).
pub fn host_platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// The pinned download for `platform`, or an error naming the platforms the pin has.
pub fn download_for<'a>(cli: &'a Cli, platform: &str) -> Result<&'a CliDownload, InstallError> {
    cli.platforms
        .get(platform)
        .ok_or_else(|| InstallError::NoPlatform {
            program: cli.name.clone(),
            platform: platform.to_string(),
            available: if cli.platforms.is_empty() {
                "none".to_string()
            } else {
                cli.platforms.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        })
}

/// A render command as shown in plans and recorded: `linkerd install --crds`.
pub fn command_line(name: &str, args: &[String]) -> String {
    std::iter::once(name)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The commands `run` performs for a CLI pin on `platform`, as shown by `plan`.
pub fn planned_commands(cli: &Cli, platform: &str, locked: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    match download_for(cli, platform) {
        Ok(d) => {
            out.push(format!(
                "download {} for {platform} from {} and check sha256 {} (pin{})",
                cli.name,
                d.url,
                d.sha256,
                match locked {
                    Some(l) if l == d.sha256 => " and lock file",
                    _ => "",
                }
            ));
            if let Some(l) = locked.filter(|l| *l != d.sha256) {
                out.push(format!("check sha256 {l} (lock file)"));
            }
        }
        Err(e) => out.push(format!("cannot install here: {e}")),
    }
    if let Some(m) = cli.member_for(platform) {
        out.push(format!(
            "extract {m} from the downloaded .tar.gz as {} (mode 0755)",
            cli.name
        ));
    }
    out.push(
        "render offline: each command below runs with a cleared environment (PATH, and HOME and \
         KUBECONFIG in a scratch directory, the kubeconfig naming no cluster); its stdout is applied \
         (server-side apply, CRDs first; Secret data redacted in the bundle)"
            .to_string(),
    );
    for r in &cli.render {
        out.push(format!(
            "{} | apply in namespace {}",
            command_line(&cli.name, &r.args),
            r.namespace
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::mesh::RenderStep;

    fn cli(platforms: &[&str]) -> Cli {
        Cli {
            name: "demo".into(),
            platforms: platforms
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        CliDownload {
                            url: format!("https://cli.example.invalid/{p}/demo"),
                            sha256: "a".repeat(64),
                            member: None,
                        },
                    )
                })
                .collect(),
            member: None,
            render: vec![RenderStep {
                args: vec!["install".into(), "--crds".into()],
                namespace: "demo-system".into(),
            }],
        }
    }

    #[test]
    fn host_platform_uses_rust_names() {
        let p = host_platform();
        // Rust's names, not Go's (`x86_64`, not `amd64`): what pins must use as keys.
        let expected = if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            Some("linux-x86_64")
        } else if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
            Some("linux-aarch64")
        } else if cfg!(all(target_os = "macos", target_arch = "aarch64")) {
            Some("macos-aarch64")
        } else {
            None
        };
        if let Some(e) = expected {
            assert_eq!(p, e);
        }
        assert!(!p.contains("amd64") && !p.contains("darwin"), "{p}");
        assert!(crate::spec::mesh::is_platform_key(&p), "{p}");
    }

    #[test]
    fn a_missing_platform_names_the_pinned_ones() {
        let c = cli(&["macos-aarch64", "linux-x86_64"]);
        assert_eq!(
            download_for(&c, "linux-x86_64").unwrap().url,
            "https://cli.example.invalid/linux-x86_64/demo"
        );
        let e = download_for(&c, "freebsd-riscv64").unwrap_err();
        assert!(matches!(e, InstallError::NoPlatform { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("freebsd-riscv64")
                && msg.contains("the pin has linux-x86_64, macos-aarch64"),
            "{msg}"
        );
    }

    #[test]
    fn planned_commands_show_download_check_and_each_render() {
        let mut c = cli(&["linux-x86_64"]);
        c.member = Some("linux-amd64/demo".into());
        c.render.push(RenderStep {
            args: vec!["install".into()],
            namespace: "demo".into(),
        });
        let lines = planned_commands(&c, "linux-x86_64", Some(&"b".repeat(64)));
        assert_eq!(
            lines[0],
            format!(
                "download demo for linux-x86_64 from https://cli.example.invalid/linux-x86_64/demo and check sha256 {} (pin)",
                "a".repeat(64)
            )
        );
        assert_eq!(
            lines[1],
            format!("check sha256 {} (lock file)", "b".repeat(64))
        );
        assert_eq!(
            lines[2],
            "extract linux-amd64/demo from the downloaded .tar.gz as demo (mode 0755)"
        );
        assert_eq!(
            &lines[4..],
            [
                "demo install --crds | apply in namespace demo-system",
                "demo install | apply in namespace demo"
            ]
        );
        let here = planned_commands(&c, "plan9-mips", None);
        assert!(
            here[0].starts_with("cannot install here: demo: no download is pinned for this machine's platform plan9-mips"),
            "{}",
            here[0]
        );
    }
}
