# make demo / make test / make figures: each creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test figures portability clean venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m sims.theory_demo --workdir runs/theory_demo --replace
	$(PY) -m sims.verify_theory --workdir runs/verify_theory --replace
	$(PY) -m sims.make_all --workdir runs --out figures

figures: $(STAMP)
	$(PY) -m sims.make_all --workdir runs --out figures

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile tests

# Developers only (not CI): the suite under several OpenBLAS kernels; lists the tests that differ.
portability: $(STAMP)
	$(PY) -m benchmarks.portability --json runs/portability.json

clean:
	rm -rf $(VENV) runs .pytest_cache
