# Two commands do everything on a fresh machine (Python >= 3.11 on PATH as python3):
#   make demo   - create .venv, install the core and every plugin (editable), run the main job
#   make test   - the same install, then the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the built-in plugins, and the torch example plugin (installed so its TOML example runs)
PLUGINS := $(sort $(wildcard plugins/protoflow-*)) $(wildcard examples/protoflow-vq)
STAMP := $(VENV)/.installed
OUT ?= runs/digits

.PHONY: install demo test lint bench clean docs

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned: an unpinned torch pulls a multi-GB CUDA build. Only the autoencoder
	# and DESOM plugins import it.
	$(BIN)/python -m pip install -q "torch==2.13.0" -e ".[test,report,data,dask,docs,serve]" $(addprefix -e ,$(PLUGINS))
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/protoflow run examples/digits_music.toml --out $(OUT) --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# the API reference, from the docstrings; warnings (a missing docstring, a broken reference) fail it
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs/api docs/_build/html

clean:
	rm -rf $(VENV) runs .pytest_cache

# Benchmarks and reproductions are separate from the tests (minutes to an hour); see
# benchmarks/README.md for installing MiniSom and somoclu.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_inversion.py --out docs/benchmarks.md
	$(BIN)/python benchmarks/bench_som.py --memory --out docs/benchmarks.md
	$(BIN)/python benchmarks/bench_lattices.py --out docs/benchmarks.md
	$(BIN)/python benchmarks/bench_fresh.py --libraries protoflow xpysom intrasom torchsom --out docs/benchmarks.md
	$(BIN)/python benchmarks/bench_gng.py --out docs/benchmarks.md
	$(BIN)/python benchmarks/bench_music.py
	$(BIN)/python benchmarks/bench_desom.py
	$(BIN)/python benchmarks/bench_torch.py
	$(BIN)/python benchmarks/bench_dask.py --write-docs
