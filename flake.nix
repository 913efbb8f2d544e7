{
  description = "packet-networking: write a bare-metal server's network configuration from Equinix Metal metadata";

  # No flake.lock is committed: it is written on first use (`nix flake lock`), since
  # these machines cannot reach the nixpkgs source to hash it.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The files a build uses, pinned by URL and sha256 (packaging/pyz-inputs.json, made by
      # `make lock` from requirements.lock and packaging/build-tools.lock): the same pure
      # wheels and sdist as `make pyz`, fetched by Nix, then installed with pip offline.
      inputsFile = builtins.fromJSON (builtins.readFile ./packaging/pyz-inputs.json);
      wheelhouse = pkgs: pkgs.linkFarm "packet-networking-wheelhouse" (map
        (input: {
          name = baseNameOf input.url;
          path = pkgs.fetchurl { inherit (input) url sha256; };
        })
        inputsFile);

      version = (builtins.fromTOML (builtins.readFile ./pyproject.toml)).project.version;

      # The pyz, built by packaging/build_pyz.py as `make pyz` does; its shebang names this
      # package set's Python (with -I -S), so the precompiled bytecode matches it.
      pyz = pkgs: pkgs.stdenvNoCC.mkDerivation {
        pname = "packet-networking";
        inherit version;
        src = self;
        nativeBuildInputs = [ pkgs.python3 ];
        dontConfigure = true;
        dontFixup = true; # the shebang is already a store path; the bytes stay as built
        buildPhase = ''
          runHook preBuild
          export HOME=$TMPDIR PIP_NO_INDEX=1 PIP_FIND_LINKS=${wheelhouse pkgs}
          python3 -m venv $TMPDIR/venv
          $TMPDIR/venv/bin/pip install --quiet --require-hashes --no-deps -r packaging/build-tools.lock
          $TMPDIR/venv/bin/python packaging/build_pyz.py --work $TMPDIR/pyz \
            --python "${pkgs.python3.interpreter} -IS" --output packet-networking.pyz
          runHook postBuild
        '';
        installPhase = ''
          runHook preInstall
          install -Dm755 packet-networking.pyz $out/bin/packet-networking
          runHook postInstall
        '';
        meta = {
          description = "Write a server's network configuration from Equinix Metal metadata";
          license = pkgs.lib.licenses.asl20;
          mainProgram = "packet-networking";
          platforms = pkgs.lib.platforms.linux;
        };
      };

      # What the test suite imports and runs; tests needing root, namespaces or distro
      # tools skip themselves outside CI.
      testPython = pkgs: pkgs.python3.withPackages (ps: with ps; [
        attrs jinja2 pyyaml requests structlog
        pytest hypothesis packaging
        pip setuptools shiv
      ]);
    in
    {
      packages = forAllSystems (pkgs: rec {
        packet-networking = pyz pkgs;
        default = packet-networking;
      });

      apps = forAllSystems (pkgs: rec {
        packet-networking = {
          type = "app";
          program = "${self.packages.${pkgs.system}.packet-networking}/bin/packet-networking";
        };
        default = packet-networking;
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [ (testPython pkgs) pkgs.ruff pkgs.hadolint pkgs.gnumake pkgs.iproute2 ];
          # The tests build the pyz: let pip find every pinned file without a network.
          PIP_FIND_LINKS = "${wheelhouse pkgs}";
        };
      });

      checks = forAllSystems (pkgs: {
        tests = pkgs.runCommand "packet-networking-tests"
          {
            src = self;
            nativeBuildInputs = [ (testPython pkgs) pkgs.ruff ];
            PIP_NO_INDEX = "1";
            PIP_FIND_LINKS = "${wheelhouse pkgs}";
          } ''
          cp -r $src source && chmod -R u+w source && cd source
          export HOME=$TMPDIR
          # packetnetworking.distros and .hooks live in distros/ and hooks/: install the
          # package so that the mapping in pyproject.toml applies, as in the dev venv.
          pip install --quiet --no-deps --no-build-isolation --prefix $TMPDIR/inst .
          export PYTHONPATH=$TMPDIR/inst/${pkgs.python3.sitePackages}
          ruff check packetnetworking distros hooks tests
          python -m pytest -q -p no:cacheprovider tests
          touch $out
        '';
        package = self.packages.${pkgs.system}.packet-networking;
      });
    };
}
