# `make lab` opens the course in JupyterLab; `make test` runs every test.
# Both create .venv and install the project into it when needed.
#
# TORCH_SPEC: how torch is installed before the project. The default pins the CPU
# build this course is tested with; elsewhere use your platform's normal torch,
# e.g. `make test TORCH_SPEC=torch` (CUDA on Linux, MPS on Apple silicon).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lrcourse-installed
PYTEST_ARGS ?=

.PHONY: test lab install clean benchmarks

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test,lab]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lrcourse)" >/dev/null
	touch $(STAMP)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/lrcourse lab

benchmarks: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build .hypothesis
