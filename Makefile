# hakari: the two commands a new user runs on a fresh Debian 12 machine, as root:
#   make test   installs what the suite needs, then runs it
#   make demo   runs the drill on the local lab
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Nova (for the Nova lab) pins its own dependencies: a venv of its own.
NOVA_VENV := .venv-nova
NOVA_STAMP := $(NOVA_VENV)/.installed
# masakari-monitors' notifier, for the API test on the Nova lab: a venv of its own too.
MONITORS_VENV := .venv-monitors
MONITORS_STAMP := $(MONITORS_VENV)/.installed

# Debian packages the suite and the lab use. Installed only when missing.
APT_PACKAGES := pacemaker corosync pacemaker-cli-utils resource-agents libxml2-utils \
	fence-agents pcs iproute2 procps psmisc util-linux python3-venv

.PHONY: test test-fast soak demo deps apt remoted venv .venv-nova .venv-monitors sample-config bench lab-up lab-down clean

# Two runs: what starts no daemon spread over the cores (pytest-xdist), then, one at a
# time, the tests that need root, a Pacemaker lab or real Nova (they use fixed namespace
# names and are timing-sensitive). Both run even if the first fails; either failing fails
# (a run that PYTEST_ARGS leaves without tests, pytest's status 5, does not).
DAEMONS := root or lab or nova
test: deps
	@rc=0; \
	$(PY) -m pytest -q -ra -n auto -m "not ($(DAEMONS))" $(PYTEST_ARGS) || \
	  { s=$$?; [ $$s -eq 5 ] || rc=$$s; }; \
	$(PY) -m pytest -q -ra -m "$(DAEMONS)" $(PYTEST_ARGS) || \
	  { s=$$?; [ $$s -eq 5 ] || rc=$$s; }; \
	exit $$rc

# The edit-test loop (tests/README.md): no root, no lab, no real Nova, nothing slow; the
# markers deselect those tests, so as root too it starts no daemons. Spread over the
# machine's cores (pytest-xdist): under a minute on 2 cores.
test-fast: venv
	$(PY) -m pytest -q -ra -n auto -m "not root and not lab and not nova and not slow" \
	  $(PYTEST_ARGS)

# The reliability tests with bigger settings and a summary table (tests/soak.py):
# HAKARI_FUZZ_EXAMPLES, HAKARI_SOAK_SEEDS (crash-resume seeds), HAKARI_SOAK_REPEAT.
soak: deps
	$(PY) -m tests.soak

demo: deps
	$(PY) -m lab.demo

# The lab for people: 3 controllers (Corosync members) and 2 Pacemaker Remote computes,
# each machine with its own /etc/hakari and /var/lib/hakari, plus a real Nova on the
# bridge, with fence_hakari in the computes' fencing topology. LAB_ARGS="--nova
# --computes 4", "--nova --computes 0" for the members-only lab, or "--single" for one
# node with a ghost and no Nova. Drive it with `$(PY) -m lab --help`.
LAB_NAME ?= lab
LAB_ARGS ?= --nova
lab-up: apt remoted venv .venv-nova
	$(PY) -m lab up --name $(LAB_NAME) $(LAB_ARGS)

lab-down:
	@if [ -x $(PY) ]; then $(PY) -m lab down --name $(LAB_NAME); \
	else python3 -m lab down --name $(LAB_NAME); fi

# The three virtualenvs are independent (mostly downloads and unpacking): built side by side.
deps: apt remoted
	@$(MAKE) --no-print-directory -j3 venv .venv-nova .venv-monitors

# The lab's computes run pacemaker-remoted. Debian's pacemaker-remote package conflicts
# with pacemaker (a machine is a cluster node or a remote node, never both), and the lab
# machine must be both: the package's own binary is unpacked beside the system instead
# of installed (lab/config.py REMOTED). Root only, like apt.
REMOTED := /usr/local/lib/hakari-lab/pacemaker-remoted
remoted: apt
	@if [ -x $(REMOTED) ]; then echo "remoted: $(REMOTED) present"; 	elif [ "$$(id -u)" != 0 ]; then echo "remoted: missing (run as root to unpack it; remote-compute lab tests will skip)"; 	else set -e; d=$$(mktemp -d); chmod 755 $$d; 	  (cd $$d && (apt-get download -q pacemaker-remote >/dev/null 2>&1 || 	    (apt-get update -qq && apt-get download -q pacemaker-remote >/dev/null))); 	  dpkg-deb -x $$d/pacemaker-remote_*.deb $$d/x; 	  install -D -m 0755 $$d/x/usr/sbin/pacemaker-remoted $(REMOTED); rm -rf $$d; 	  echo "remoted: unpacked $$($(REMOTED) --version | head -1) into $(REMOTED)"; 	fi

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "apt: all packages present"; \
	elif [ "$$(id -u)" != 0 ]; then echo "apt: missing$$missing (run as root to install; tests that need them will skip)"; \
	else echo "apt: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,api]'
	touch $@

.venv-nova: $(NOVA_STAMP)

# Then the lab's Keystone database and keys, made once, copied by every lab start.
$(NOVA_STAMP): lab/nova/requirements.txt
	$(PYTHON) -m venv $(NOVA_VENV)
	$(NOVA_VENV)/bin/python -m pip install -q --upgrade pip
	$(NOVA_VENV)/bin/python -m pip install -q -r lab/nova/requirements.txt
	$(NOVA_VENV)/bin/python lab/nova/keystone_process.py --make-template >/dev/null
	touch $@

.venv-monitors: $(MONITORS_STAMP)

# --no-deps: the file pins the notifier's whole closure (lab/monitors/requirements.txt).
$(MONITORS_STAMP): lab/monitors/requirements.txt
	$(PYTHON) -m venv $(MONITORS_VENV)
	$(MONITORS_VENV)/bin/python -m pip install -q --upgrade pip
	$(MONITORS_VENV)/bin/python -m pip install -q --no-deps -r lab/monitors/requirements.txt
	touch $@

sample-config: venv
	$(VENV)/bin/oslo-config-generator --namespace hakari \
	  --output-file etc/hakari/hakari.conf.sample --wrap-width 79
	@echo "wrote etc/hakari/hakari.conf.sample"

# Every benchmark prints JSON; bench/report.py runs each with a timeout and writes
# bench/results.json and bench/REPORT.md. BENCH_ARGS="--quick" or "--only parse,alert".
bench: deps
	$(PY) bench/report.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(NOVA_VENV) $(MONITORS_VENV) build *.egg-info
