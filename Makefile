# packet-networking: every command a user or CI needs. `make help` lists them.
PYTHON ?= /usr/bin/python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYZ    := packet-networking.pyz
DEMO   := build/demo-rootfs
DEMO_TB := build/demo-rootfs-tinkerbell
# Debian packages `make demo` needs on a fresh Debian 12: python3 -m venv needs python3-venv.
DEMO_APT_PACKAGES := python3-venv
# Debian packages the tests need: the real readers of each format (docs/testing.md), mmdebstrap
# for the image matrix, podman/runc and nix-bin for the shipping tests, util-linux for namespaces
# (unshare, nsenter, prlimit), vlan (its if-pre-up.d script makes ENI's vlanN devices), procps for sysctl (ifupdown's inet6 method); acl (setfacl/getfacl),
# selinux-policy-default and selinux-utils (a real file_contexts and libselinux's selabel_lookup),
# e2fsprogs (mke2fs, chattr, dumpe2fs) for the attribute, label and rollback tests, the VM disks
# and the action's partition (with fdisk's sfdisk, and util-linux's losetup and partx); strace
# holds a syscall of the real zipapp for the signal test; the last two lines build NetworkManager with ifcfg-rh from Debian's source and run it
# (tests/support/networkmanager.py). Every program a test runs comes from one of these:
# tests/test_tool_packages.py checks it with dpkg -S.
APT_PACKAGES := ifupdown ifenslave vlan iproute2 mmdebstrap netplan.io gir1.2-nm-1.0 fdisk \
                python3-gi python3-venv udev systemd busybox \
                podman runc nix-bin util-linux mount procps \
                acl selinux-policy-default selinux-utils e2fsprogs strace \
                dpkg-dev xz-utils debian-archive-keyring meson ninja-build gcc libc6-dev pkg-config \
                libglib2.0-dev libudev-dev libdbus-1-dev libndp-dev xsltproc uuid-dev libreadline-dev dbus dbus-daemon
# QEMU for the VM cells (tests/test_vm_bonds.py: bonds brought up at boot).
APT_PACKAGES += qemu-system-x86

.PHONY: help demo test pyz venv apt apt-demo lint clean lock wheelhouse bench image

help:
	@echo "make demo   - set up, build $(PYZ), run it on examples/ into $(DEMO), show the files"
	@echo "make test   - install what the tests need (apt + venv) and run the whole suite"
	@echo "make pyz    - build ./$(PYZ) (reproducible; see packaging/build_pyz.py)"
	@echo "make bench  - start-up and render benchmarks (bench/)"
	@echo "make lock   - re-pin the dependencies and build tools (requirements.lock)"
	@echo "make image  - build the installer image from Containerfile with podman"
	@echo "make lint   - ruff"
	@echo "make matrix - the image matrix only (distro images, NetworkManager cells; PN_EXTRA_IMAGES adds images)"
	@echo "make vm     - every VM cell: bonds brought up at boot in QEMU (tests/test_vm_bonds.py)"

# apt-demo is order-only: it runs first, and never makes the venv out of date.
$(VENV)/.done: pyproject.toml | apt-demo
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.done

# The zipapp: pinned pure-Python dependencies, precompiled, reproducible (packaging/build_pyz.py
# says how). PYZ_PYTHON is its shebang: an absolute interpreter with -I -S, so nothing of the
# host's site-packages or environment leaks in; see docs/shipping.md.
PYZ_PYTHON ?= /usr/bin/python3 -IS
BUILD_TOOLS := $(VENV)/.build-tools
# A base image for `make image`; Alpine is the installer's.
IMAGE_BASE ?= docker.io/library/alpine:3.20
IMAGE      ?= localhost/packet-networking:latest

$(BUILD_TOOLS): packaging/build-tools.lock $(VENV)/.done
	$(PY) -m pip install -q --require-hashes --no-deps -r packaging/build-tools.lock
	touch $@

pyz: $(BUILD_TOOLS)
	$(PY) packaging/build_pyz.py --python '$(PYZ_PYTHON)' --output $(PYZ)

# Re-resolve the pins (for Python 3.9, the oldest supported) after a dependency change.
lock: $(VENV)/.done
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile -q pyproject.toml --python-version 3.9 --generate-hashes \
	    --custom-compile-command 'make lock' -o requirements.lock
	$(VENV)/bin/uv pip compile -q packaging/build-tools.in --python-version 3.9 --generate-hashes \
	    --custom-compile-command 'make lock' -o packaging/build-tools.lock
	$(MAKE) $(BUILD_TOOLS)
	$(PY) packaging/build_pyz.py inputs

# Every file a build needs, for building offline (PIP_NO_INDEX=1 PIP_FIND_LINKS=build/wheelhouse).
wheelhouse: $(BUILD_TOOLS)
	$(PY) packaging/build_pyz.py wheelhouse build/wheelhouse

bench: pyz
	$(PY) bench/startup.py --variants --instructions
	$(PY) bench/render.py

image: wheelhouse
	podman build -f Containerfile --build-arg BASE=$(IMAGE_BASE) -t $(IMAGE) .

demo: pyz
	rm -rf $(DEMO) $(DEMO_TB) && mkdir -p $(DEMO) $(DEMO_TB)
	./$(PYZ) -M examples/metadata.json --nics examples/nics.json -o 'debian 12' \
	    --rootfs $(DEMO) --resolvers 147.75.207.207,147.75.207.208 --log-format console
	@for f in $$(cd $(DEMO) && find . -type f | sort); do echo "===== $${f#.}"; cat "$(DEMO)/$$f"; done
	./$(PYZ) -M examples/hardware.yaml --nics examples/nics.json --backend netplan \
	    --rootfs $(DEMO_TB) --log-format console
	@for f in $$(cd $(DEMO_TB) && find . -type f | sort); do echo "===== $${f#.}"; cat "$(DEMO_TB)/$$f"; done

# Install Debian packages ($1) only if one is missing: nothing to do (and no root needed) on a
# machine that has them, and nothing to do where there is no dpkg (nix develop).
define apt_install
	@if command -v dpkg >/dev/null && ! dpkg -s $(1) >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(1); \
	fi
endef

apt-demo:
	$(call apt_install,$(DEMO_APT_PACKAGES))

apt:
	$(call apt_install,$(APT_PACKAGES))

test: apt pyz lint
	$(PY) -m pytest -q

lint: $(VENV)/.done
	$(PY) -m ruff check packetnetworking distros hooks tests
	$(PY) -m mypy

clean:
	rm -rf $(VENV) build $(PYZ) *.egg-info

# The zipapp in distro images: table at the end, JSON in build/image-matrix.json.
# Images of other distros: PN_EXTRA_IMAGES=NAME=podman:IMAGE|NAME=TARBALL,... make matrix
.PHONY: matrix
matrix: apt pyz
	$(PY) -m pytest -q tests/test_image_matrix.py tests/test_nm_ifcfg.py tests/test_nm_keyfile.py \
	    tests/test_nm_apply.py

# Every VM cell, the ones `make test` leaves out too (docs/testing.md says which and why).
.PHONY: vm
vm: apt pyz
	PN_VM_ALL=1 $(PY) -m pytest -q tests/test_vm_bonds.py
