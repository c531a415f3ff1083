# cpwatch: `make demo` runs the diagnosis gallery, `make test` runs the suite.
PYENV_ROOT := $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
# Lambda runs python3.13; develop and test on the same minor version when it is installed.
PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13) $(shell command -v python3.13) python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
SCENARIO ?=
# checkov and aws-sam-cli pin many packages: each gets its own venv, never .venv.
CHECKOV_VENV := .venv-checkov
SAM_VENV := .venv-sam

.PHONY: venv demo test soak bench checkov package mutate clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt functions/cpwatch/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements-dev.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

$(CHECKOV_VENV)/.installed: .ci/checkov/requirements.txt $(VENV)/.installed
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip install -q --python $(CHECKOV_VENV)/bin/python -r .ci/checkov/requirements.txt
	touch $@

$(SAM_VENV)/.installed: .ci/sam/requirements.txt $(VENV)/.installed
	$(PYTHON) -m venv $(SAM_VENV)
	$(BIN)/uv pip install -q --python $(SAM_VENV)/bin/python -r .ci/sam/requirements.txt
	touch $@

demo: venv
	$(BIN)/python -m tests.demo $(SCENARIO)

# The suite includes the template checks, so checkov's own venv comes first. It runs on
# TEST_WORKERS pytest-xdist workers (README "Running the tests"): most of its time is waiting (hung
# fake apiservers, canaries, moto), which overlaps even on a busy core; the rest is ~8 min of CPU,
# which more workers do not shorten. TEST_WORKERS=0 runs it serially. The 15 slowest are listed.
TEST_WORKERS ?= 4
test: venv $(CHECKOV_VENV)/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=15

# False-alarm budget (issue 4): 1,000 healthy runs with jitter, skew and failovers; 0 alarms.
soak: venv
	$(BIN)/python -m bench.soak

# Benchmarks (~15 min): prints a table, writes bench/results.json. kubectl at 5,000 nodes needs
# ~17 GB RAM; with less, the same list requests are made from Python instead. The artifact is
# built first: the cold start is measured importing from it, as Lambda does.
# BENCH_ARGS: --only large,work,cold,warm,cost,latency,fleet,reconcile | --quick | --markdown bench/RESULTS.md
bench: venv package
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# checkov does not expand Fn::ForEach: the per-cluster resources are scanned in the expansion.
# --skip-download: no calls to Prisma Cloud (offline; BC_* skip ids are not used here).
checkov: $(CHECKOV_VENV)/.installed
	$(BIN)/python -m tests.template.cfn build/template-expanded.json
	$(CHECKOV_VENV)/bin/checkov --file template.yaml build/template-expanded.json \
	  --framework cloudformation --skip-download --quiet --compact

# No container: sam build pip-installs manylinux aarch64 wheels from PyPI with the python3.13
# found on PATH. --language-extensions lets it read Fn::ForEach; the built template keeps the
# loop for CloudFormation, so the ClusterNames value here is only a stand-in.
# The artifact is functions/cpwatch/ plus functions/cpwatch/requirements.txt, which holds only
# what the function imports (kubernetes is the CLI's, in pyproject.toml). Its unzipped size
# (bytes of the files, as Lambda counts them against its 250 MB limit) must stay within
# ARTIFACT_LIMIT_MB: a bigger artifact is a slower cold start and a longer deploy.
# sam build writes no bytecode and /var/task is read-only, so without it every cold start would
# compile every module it imports: the artifact ships bytecode of the runtime's Python (3.13;
# another version ignores it and compiles as before). unchecked-hash: the files are only ever
# written together, by this target (-f), so the check against the source would be wasted work.
ARTIFACT := .aws-sam/build/CheckerFunction
ARTIFACT_LIMIT_MB := 100
package: $(SAM_VENV)/.installed
	PATH="$(dir $(PYTHON)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build \
	  --language-extensions --template template.yaml --build-dir .aws-sam/build \
	  --parameter-overrides ClusterNames=package-only
	$(PYTHON) -m compileall -q -f -j 0 --invalidation-mode unchecked-hash .aws-sam/build/CheckerFunction \
	  .aws-sam/build/ReconcileFunction > /dev/null
	@bytes=$$(du -s --apparent-size -B1 $(ARTIFACT) | cut -f1); \
	  awk -v b=$$bytes -v limit=$(ARTIFACT_LIMIT_MB) 'BEGIN { mb = b / 1e6; \
	    printf "function artifact, unzipped: %.1f MB (limit %d MB)\n", mb, limit; \
	    if (mb > limit) { print "function artifact is above " limit " MB: see functions/cpwatch/requirements.in"; exit 1 } }'

# Mutation testing (not part of `make test`; all ~4,400 mutants take two to three hours on 2
# cores, estimated from per-module runs, so run the probes by module with MUTANTS; README
# "Mutation testing"): mutmut 3 over diagnosis.py, alerting.py, findings.py and probes/ against
# the fast tests that exercise them (.ci/mutate/setup.cfg). It runs in a fresh staging tree with the package at src/cpwatch,
# where mutmut's mutant names match the module the tests import. Prints the kill rate and
# every surviving mutant; `cd build/mutate && ../../.venv/bin/mutmut show NAME` shows one.
MUTATE_DIR := build/mutate
MUTATE_JOBS ?= 2
# Which mutants to run (mutmut name patterns; empty: all), e.g. MUTANTS='cpwatch.judging.diagnosis* cpwatch.probes.latency*'
MUTANTS ?=
mutate: venv
	rm -rf $(MUTATE_DIR) && mkdir -p $(MUTATE_DIR)/src
	cp -r functions/cpwatch/cpwatch $(MUTATE_DIR)/src/
	mkdir -p $(MUTATE_DIR)/functions && cp -r functions/cpwatch $(MUTATE_DIR)/functions/
	cp -r tests infra events README.md pyproject.toml template.yaml .ci/mutate/setup.cfg $(MUTATE_DIR)/
	find $(MUTATE_DIR) -name __pycache__ -prune -exec rm -rf {} +
	cd $(MUTATE_DIR) && started=$$(date +%s) && \
	  { $(abspath $(BIN))/mutmut run --max-children $(MUTATE_JOBS) $(foreach m,$(MUTANTS),'$(m)') > mutmut-run.log 2>&1 || \
	    { tail -c 4000 mutmut-run.log; exit 1; }; } && \
	  echo "mutmut run: $$(( $$(date +%s) - started )) s (log: $(MUTATE_DIR)/mutmut-run.log)"
	cd $(MUTATE_DIR) && $(abspath $(BIN))/mutmut export-cicd-stats > /dev/null
	$(BIN)/python -m tests.mutation_report $(MUTATE_DIR)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(SAM_VENV) .aws-sam build .pytest_cache
