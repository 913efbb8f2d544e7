# packet-networking: every command a user or CI needs. `make help` lists them.
PYTHON ?= /usr/bin/python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYZ    := packet-networking.pyz
DEMO   := build/demo-rootfs
# Debian packages the tests read generated files with (see tests/README.md).
APT_PACKAGES := ifupdown ifenslave iproute2 mmdebstrap netplan.io gir1.2-nm-1.0 \
                python3-gi python3-venv udev systemd busybox

.PHONY: help demo test pyz venv apt lint clean

help:
	@echo "make demo   - set up, build $(PYZ), run it on examples/ into $(DEMO), show the files"
	@echo "make test   - install what the tests need (apt + venv) and run the whole suite"
	@echo "make pyz    - build ./$(PYZ)"
	@echo "make lint   - ruff"

$(VENV)/.done: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.done

pyz: $(VENV)/.done
	$(VENV)/bin/shiv --reproducible --compressed -q -p '/usr/bin/env python3' \
	    -e packetnetworking.cli:main -o $(PYZ) .

demo: pyz
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	./$(PYZ) -M examples/metadata.json --nics examples/nics.json -o 'debian 12' \
	    --rootfs $(DEMO) --resolvers 147.75.207.207,147.75.207.208 --log-format console
	@for f in $$(cd $(DEMO) && find . -type f | sort); do echo "===== $${f#.}"; cat "$(DEMO)/$$f"; done

apt:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PACKAGES); \
	fi

test: apt pyz
	$(PY) -m ruff check packetnetworking distros hooks tests
	$(PY) -m pytest -q

lint: $(VENV)/.done
	$(PY) -m ruff check packetnetworking distros hooks tests

clean:
	rm -rf $(VENV) build $(PYZ) *.egg-info
