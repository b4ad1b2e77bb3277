{
  description = "meshproof: reproduce SMI conformance runs on ephemeral kind clusters and archive verifiable bundles";

  # One input. The pin in flake.lock is a released NixOS branch revision; docs/packaging.md says
  # where it was copied from and how to move it (`nix flake update`).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      # PLACEHOLDER: the GitHub owner (user or organisation) this repository is published under.
      # It only appears in the `nix run github:<owner>/meshproof/<rev>` reference that every bundle
      # records (MESHPROOF_FLAKE_REF) and `meshproof reproduce` prints. Replace it when the
      # repository gets its public home; nothing else depends on it.
      githubOwner = "OWNER";
      githubRepo = "meshproof";

      # `self.rev` exists only for a clean checkout; a dirty tree says so instead of lying. Only
      # the thin wrapper below uses it (at run time, through the environment): the builds do not,
      # so a commit that changes no source (docs, CI) rebuilds nothing and keeps the probe image's
      # digest. A `path:` flake (the GitHub Action's own checkout) has no `self.rev` either; the
      # Action derives the reference itself and overrides these (`--set-default`).
      revision = self.rev or "dirty";
      flakeRef = "github:${githubOwner}/${githubRepo}/${revision}";

      cargoToml = builtins.fromTOML (builtins.readFile ./Cargo.toml);
      probeCargoToml = builtins.fromTOML (builtins.readFile ./workloads/smi-apps/probe/Cargo.toml);
      version = cargoToml.package.version;
      probeVersion = probeCargoToml.package.version;

      linuxSystems = [ "x86_64-linux" "aarch64-linux" ];
      # darwin: the CLI, the checks and the dev shell; no probe image (a Linux image, built on
      # Linux only), so `nix run` there is for verify/show/plan/list/lock/doctor, and `run` needs a
      # Linux probe image archive from elsewhere in MESHPROOF_PROBE_IMAGE_ARCHIVE
      # (docs/packaging.md). `nix flake check --all-systems --no-build` in ci.yml evaluates it.
      darwinSystems = [ "aarch64-darwin" ];
      systems = linuxSystems ++ darwinSystems;
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      isLinux = system: builtins.elem system linuxSystems;

      # Only what Cargo and the catalog need; target/, .git, docs and CI files stay out, so editing
      # them does not rebuild anything. Optional folders may not exist in every revision.
      buildFiles = lib.fileset.unions [
          ./Cargo.toml
          ./Cargo.lock
          ./src
          (lib.fileset.maybeMissing ./crates)
          (lib.fileset.maybeMissing ./workloads)
          (lib.fileset.maybeMissing ./clusters)
          (lib.fileset.maybeMissing ./meshes)
          (lib.fileset.maybeMissing ./suites)
          (lib.fileset.maybeMissing ./tests)
          (lib.fileset.maybeMissing ./examples)
          (lib.fileset.maybeMissing ./benches)
          (lib.fileset.maybeMissing ./build.rs)
          (lib.fileset.maybeMissing ./.cargo)
          (lib.fileset.maybeMissing ./rustfmt.toml)
          (lib.fileset.maybeMissing ./clippy.toml)
        ];
      src = lib.fileset.toSource { root = ./.; fileset = buildFiles; };
      # The tests read two files more: tests/it/meshes.rs keeps the e2e workflow's matrix in step
      # with the catalog, tests/it/contributing.rs follows CONTRIBUTING.md's walk-throughs. Only
      # checks.tests uses this source, so editing CI files rebuilds no package.
      # (.ci/packaging-checks.sh fails when a test names a repository file outside it.)
      testSrc = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [ buildFiles ./.github/workflows/e2e.yml ./CONTRIBUTING.md ];
      };

      # The catalog folders installed next to the binary (read through MESHPROOF_HOME).
      dataDirs = [ "clusters" "meshes" "workloads" "suites" ];

      perSystem = system: pkgs:
        let
          rp = pkgs.rustPlatform;

          common = {
            inherit version src;
            cargoLock.lockFile = ./Cargo.lock;
            # No revision here: bundles get it at run time from the wrapper (MESHPROOF_GIT_REV).
            # Tests that need Docker skip when no engine answers and MESHPROOF_REQUIRE_DOCKER is
            # unset. The Linux sandbox has no engine; a non-sandboxed build (macOS, sandbox=false)
            # could reach the user's socket, so point DOCKER_HOST at a socket that never exists.
            # Tests that need ../shared (outside the source) skip, saying why.
            preCheck = ''
              export DOCKER_HOST=unix://$TMPDIR/no-docker-engine.sock
              unset MESHPROOF_REQUIRE_DOCKER MESHPROOF_REQUIRE_SHARED MESHPROOF_GIT_REV MESHPROOF_FLAKE_REF
              export INSTA_UPDATE=no
              export HOME=$TMPDIR
            '';
            meta = {
              description = cargoToml.package.description;
              homepage = "https://github.com/${githubOwner}/${githubRepo}";
              license = lib.licenses.asl20;
              mainProgram = "meshproof";
            };
          };

          # The CLI and its catalog. `nix run` users should not pay for the test suite on every
          # build: checks.tests runs it (`nix flake check`).
          meshproof = rp.buildRustPackage (common // {
            pname = "meshproof";
            cargoBuildFlags = [ "-p" "meshproof" "--bin" "meshproof" ];
            doCheck = false;
            nativeBuildInputs = [ pkgs.makeWrapper ];
            postInstall = ''
              mkdir -p $out/share/meshproof
              for d in ${lib.concatStringsSep " " dataDirs}; do
                if [ -d "$d" ]; then cp -r "$d" $out/share/meshproof/; fi
              done
              # --set-default: a user's own MESHPROOF_HOME (e.g. a checkout with new pins) wins.
              wrapProgram $out/bin/meshproof \
                --set-default MESHPROOF_HOME $out/share/meshproof
            '';
          });

          # The instrumented workload app, built from the same workspace and lock.
          probe = rp.buildRustPackage (common // {
            pname = "meshproof-probe";
            version = probeVersion;
            cargoBuildFlags = [ "-p" "meshproof-probe" "--bin" "meshproof-probe" ];
            doCheck = false;
            meta = common.meta // {
              description = probeCargoToml.package.description;
              mainProgram = "meshproof-probe";
            };
          });

          # An uncompressed docker-archive (`docker load`, `ctr images import`, `kind load
          # image-archive` all read it). Tagged with the probe version, never `latest`; runs as
          # the distroless nonroot uid/gid like the Dockerfile and the manifests expect.
          probeImage = pkgs.dockerTools.buildLayeredImage {
            name = "meshproof-probe";
            tag = probeVersion;
            compressor = "none";
            contents = [ probe ];
            config = {
              Entrypoint = [ "${probe}/bin/meshproof-probe" ];
              User = "65532:65532";
              Env = [ "SERVICE_NAME=Default" "PORT=9091" ];
              ExposedPorts = { "9091/tcp" = { }; };
              # No revision label: the image's digest changes with the probe, not with every commit.
              Labels = {
                "org.opencontainers.image.title" = "meshproof-probe";
                "org.opencontainers.image.version" = probeVersion;
              };
            };
          };

          # What `nix run` starts, a thin wrapper (the only derivation that changes per commit):
          # kubectl and helm from this nixpkgs first on PATH. kind and the docker CLI last: the
          # user's own docker matches their engine, and each cluster pin accepts one kind minor,
          # so meshproof uses a kind on PATH that fits the pin and otherwise provides the pinned
          # one itself; nixpkgs' single kind is only the last resort. Everything it exports is a
          # default (`--set-default`) that the caller (the GitHub Action, a user) can override.
          wrapped = pkgs.symlinkJoin {
            name = "meshproof-wrapped-${version}";
            paths = [ meshproof ];
            nativeBuildInputs = [ pkgs.makeWrapper ];
            postBuild = ''
              wrapProgram $out/bin/meshproof \
                --prefix PATH : ${lib.makeBinPath [ pkgs.kubectl pkgs.kubernetes-helm ]} \
                --suffix PATH : ${lib.makeBinPath [ pkgs.kind pkgs.docker-client ]} \
                --set-default MESHPROOF_FLAKE_REF "${flakeRef}" \
                ${lib.optionalString (self ? rev) "--set-default MESHPROOF_GIT_REV ${self.rev}"} \
                ${lib.optionalString (isLinux system) "--set-default MESHPROOF_PROBE_IMAGE_ARCHIVE ${probeImage}"}
            '';
            meta = common.meta;
          };

          # Checks reuse the same lock and vendored crates; the tests get the test source.
          tests = meshproof.overrideAttrs (_: {
            pname = "meshproof-tests";
            src = testSrc;
            doCheck = true;
            cargoTestFlags = [ "--workspace" ];
            # The probe's binary test stops it with `kill` (procps; coreutils does not install it).
            # helm: the Helm rendering test runs for real here (it skips only where helm is absent).
            nativeCheckInputs = [ pkgs.kubernetes-helm ] ++ lib.optionals (isLinux system) [ pkgs.procps ];
            preCheck = common.preCheck + ''
              export MESHPROOF_REQUIRE_HELM=1
            '';
          });

          clippy = meshproof.overrideAttrs (old: {
            pname = "meshproof-clippy";
            nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.clippy ];
            buildPhase = ''
              runHook preBuild
              cargo clippy --workspace --all-targets --offline -- -D warnings
              runHook postBuild
            '';
            doCheck = false;
            installPhase = "touch $out";
            postInstall = "";
          });

          fmt = pkgs.runCommand "meshproof-fmt" {
            nativeBuildInputs = [ pkgs.cargo pkgs.rustfmt ];
          } ''
            cp -r ${src} source
            chmod -R u+w source
            cd source
            export CARGO_HOME=$TMPDIR/cargo-home
            cargo fmt --all -- --check
            touch $out
          '';
        in
        {
          packages = {
            inherit meshproof probe;
            default = wrapped;
          } // lib.optionalAttrs (isLinux system) {
            probe-image = probeImage;
          };

          checks = {
            build = meshproof;
            # The wrapper `nix run` starts: proves kind, kubectl, helm, docker and (Linux) the probe
            # image all exist in the pinned nixpkgs.
            default = wrapped;
            inherit tests clippy fmt;
          } // lib.optionalAttrs (isLinux system) {
            probe-image = probeImage;
          };

          apps.default = {
            type = "app";
            program = "${wrapped}/bin/meshproof";
            meta.description = "Run the SMI conformance suite on a fresh kind cluster and write a verifiable bundle";
          };

          devShells.default = pkgs.mkShell {
            packages = [
              pkgs.cargo
              pkgs.rustc
              pkgs.clippy
              pkgs.rustfmt
              pkgs.rust-analyzer
              pkgs.kind
              pkgs.kubectl
              pkgs.kubernetes-helm
              pkgs.docker-client
              pkgs.zstd
              pkgs.jq
            ];
            RUST_SRC_PATH = "${rp.rustLibSrc}";
          };
        };

      bySystem = forAllSystems perSystem;
      pick = attr: lib.mapAttrs (_: outputs: outputs.${attr}) bySystem;
    in
    {
      packages = pick "packages";
      checks = pick "checks";
      apps = pick "apps";
      devShells = pick "devShells";
    };
}
