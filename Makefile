# semsearch — set-up, tests, serving and benchmarks.
#   make test    create .venv, install, prepare the bundled model and the browser, run the whole suite
#   make serve   … and index the sample FAQ, then serve on 127.0.0.1:8000
#   make lint    ruff over the code, tests and benchmarks; mypy over search/
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# The suite runs on every core, a test file per worker at a time (a file's servers and
# fixtures stay in one process); TEST_WORKERS=0 runs it in this process alone.
TEST_WORKERS ?= auto
# GPU=1: a CUDA torch and faiss with GPU support (faiss-gpu-cu12) in place of the CPU
# wheels. Both faiss wheels provide the same `faiss` module, so the CPU one is removed
# first; run every later install through make with GPU=1 too, or pip puts faiss-cpu back.
GPU ?= 0
FAISS_GPU_SPEC ?= faiss-gpu-cu12>=1.8
ifeq ($(GPU),1)
TORCH_SPEC := torch
endif

PY := $(VENV)/bin/python
SEMSEARCH := $(VENV)/bin/semsearch
MODE := $(if $(filter 1,$(GPU)),gpu,cpu)
# One stamp per mode: switching modes reinstalls.
INSTALLED := $(VENV)/.installed-$(MODE)

.PHONY: install model browser-deps test serve bench bench-quick lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, so that pip never resolves torch>=2.3 to a multi-GB CUDA build.
# pip compiles every module up front: with PYTHONDONTWRITEBYTECODE set (as on CI machines)
# nothing else would, and every process would compile torch and transformers again.
PIP := $(PY) -m pip install --quiet
$(INSTALLED): pyproject.toml | $(PY)
	$(PIP) "$(TORCH_SPEC)"
	if [ "$(GPU)" != 1 ]; then $(PY) -m pip uninstall --quiet -y faiss-gpu-cu12 2>/dev/null || true; fi
	$(PIP) -e ".[test]"
	if [ "$(GPU)" = 1 ]; then \
	  $(PY) -m pip uninstall --quiet -y faiss-cpu && \
	  $(PIP) "$(FAISS_GPU_SPEC)" && \
	  $(PY) -c "import faiss, torch; print('GPU install: faiss GPUs', faiss.get_num_gpus(), '· torch CUDA', torch.cuda.is_available())"; \
	fi
	rm -f $(VENV)/.installed-*
	touch $(INSTALLED)

install: $(INSTALLED)

model: install
	$(SEMSEARCH) model prepare

# The browser test drives Debian's Chromium (never a browser a tool downloads) and needs a
# CJK font, or Chinese renders as boxes. Installs only what is missing; sudo only if not root.
BROWSER_PKGS := chromium fonts-noto-cjk fontconfig
browser-deps:
	@if [ -n "$$SEMSEARCH_CHROMIUM" ]; then \
	  echo "browser-deps: using SEMSEARCH_CHROMIUM=$$SEMSEARCH_CHROMIUM"; \
	elif command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  echo "browser-deps: chromium and a CJK font are present"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "browser-deps: installing $(BROWSER_PKGS)"; \
	  $$SUDO apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    $(BROWSER_PKGS); \
	else \
	  echo "browser-deps: no apt-get here; install Chromium and a CJK font yourself" \
	       "(set SEMSEARCH_CHROMIUM to the browser's path)" >&2; exit 1; \
	fi

test: model browser-deps
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

serve: model
	$(SEMSEARCH) serve --host $(HOST) --port $(PORT) --index-sample

bench: model
	$(PY) bench/run_all.py

bench-quick: model
	$(PY) bench/run_all.py --quick

lint: install
	$(VENV)/bin/ruff check search indexer api tests bench
	$(VENV)/bin/mypy search

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
