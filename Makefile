# semsearch — set-up, tests, serving and benchmarks.
#   make test    create .venv, install, prepare the bundled model, run the whole suite
#   make serve   … and index the sample FAQ, then serve on 127.0.0.1:8000
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

PY := $(VENV)/bin/python
SEMSEARCH := $(VENV)/bin/semsearch
INSTALLED := $(VENV)/.installed

.PHONY: install model test serve bench bench-quick lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, so that pip never resolves torch>=2.3 to a multi-GB CUDA build.
$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(INSTALLED)

install: $(INSTALLED)

model: install
	$(SEMSEARCH) model prepare

test: model
	$(PY) -m pytest $(PYTEST_ARGS)

serve: model
	$(SEMSEARCH) serve --host $(HOST) --port $(PORT) --index-sample

bench: model
	$(PY) bench/run_all.py

bench-quick: model
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
