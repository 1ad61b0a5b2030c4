# `make lab` opens the course in JupyterLab; `make test` runs every test; `make lint` checks the code
# style (ruff); `make replicate`
# re-runs every notebook with other draws of the seeds (LRCOURSE_SEED_OFFSET), so every claim a
# notebook asserts must hold for them too. All create .venv and install the project when needed.
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
# two non-zero seed offsets; any others must pass too (`make replicate REPLICATE_OFFSETS="5 8"`)
REPLICATE_OFFSETS ?= 1 2
# the versions the stored outputs were made with (pip constraints); `make test CONSTRAINTS=` ignores them
CONSTRAINTS ?= constraints.txt
PIP_CONSTRAINTS := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

.PHONY: test replicate lab install clean benchmarks lint constraints

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet $(PIP_CONSTRAINTS) -e ".[test,lab]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lrcourse)" >/dev/null
	touch $(STAMP)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env $(PYTEST_ARGS)

# Each offset is a fresh draw of data splits, initial weights, shuffling and every seed a notebook
# sets: another CPU's rounding does the same to a run. Stored outputs are compared only in cells
# marked NBVAL_CHECK_OUTPUT (values no seed can change); every assert must hold.
replicate: $(STAMP)
	for k in $(REPLICATE_OFFSETS); do \
	  echo "== LRCOURSE_SEED_OFFSET=$$k"; \
	  LRCOURSE_SEED_OFFSET=$$k OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile --nbval-lax \
	    --nbval-current-env notebooks/ $(PYTEST_ARGS) || exit 1; \
	done

# ruff (configured in pyproject.toml): the lint rules, changing nothing. The layout is hand-kept for
# readers (aligned tables, one-line formulas): `ruff format` would grow lrcourse/ by 13 % and fit's
# body from 72 to 92 lines, so it is not enforced.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

lab: $(STAMP)
	$(VENV)/bin/lrcourse lab

benchmarks: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# record the installed versions (after changing a dependency and re-executing the notebooks)
constraints: $(STAMP)
	{ sed -n '1,/^# Ignore/p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v -i -E '^(torch|nvidia|triton|lrcourse)'; } > constraints.tmp
	mv constraints.tmp constraints.txt

clean:
	rm -rf $(VENV) build .hypothesis
