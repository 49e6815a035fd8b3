#!/usr/bin/env bash
# The GPU checks in one command, for a fresh CUDA machine that has only a copy of this working
# tree (no internet, maybe no .venv). Results go to $OUT (default runs/gpu_check):
#   nvidia-smi.txt, setup.log (what was installed or found), bench_gpu.md / .json / .log,
#   pytest_cuda.log, and status.txt (one "name rc" line per step).
#
#   OUT=/path benchmarks/gpu_device_check.sh [extra bench_gpu.py arguments, e.g. --repeats 1]
#
# 1. Python: $GPU_CHECK_PYTHON when set (used as it is: no install); .venv/bin/python when it
#    imports torch with CUDA and protoflow_som; else a venv
#    ($GPU_VENV, default /tmp/protoflow-gpu-venv) made with --system-site-packages, so that a
#    system-wide CUDA torch is used, and the project installed into it as `make install` does
#    (the core and every plugin, editable); offline, with --no-build-isolation (and --no-deps
#    if the dependencies cannot be fetched); torch==2.13.0 only when no torch imports. When
#    protoflow still does not import, PYTHONPATH points at the tree (root and plugins/*/src).
# 2. torchsom: the first folder of $TORCHSOM_PKGS, runs/peers/torchsom_pkgs, /tmp/torchsom_pkgs
#    that exists (a `pip install --no-deps --target` folder, benchmarks/README.md; copy it into
#    runs/peers/ to carry it with the tree). Without it bench_gpu.py times protoflow alone.
# 3. benchmarks/bench_gpu.py (CUDA; exit code 3 means no CUDA device), then `pytest -k cuda`.
# Exit status: 0 when both steps succeeded, else 1.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "[gpu_device_check] $*" | tee -a "$OUT/setup.log"; }
: > "$OUT/status.txt"

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || log "nvidia-smi failed or missing"
CUDA_OK='import torch, protoflow_som; assert torch.cuda.is_available()'
if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
    PY=$GPU_CHECK_PYTHON
    log "using \$GPU_CHECK_PYTHON=$PY as it is"
elif [ -x .venv/bin/python ] && .venv/bin/python -c "$CUDA_OK" 2>/dev/null; then
    PY=.venv/bin/python
    log "using .venv (torch sees CUDA)"
else
    VENV=${GPU_VENV:-/tmp/protoflow-gpu-venv}
    "${PYTHON:-python3}" -m venv --system-site-packages "$VENV" || { log "venv failed"; exit 1; }
    PY=$VENV/bin/python
    PIP=("$PY" -m pip install -q --retries 0 --timeout 5)
    EDITABLE=(-e .)
    for d in plugins/protoflow-* examples/protoflow-vq; do [ -d "$d" ] && EDITABLE+=(-e "$d"); done
    # as make install; offline: the system's setuptools, then without the dependencies
    "${PIP[@]}" "${EDITABLE[@]}" >> "$OUT/setup.log" 2>&1 \
        || { log "install failed (offline?): retrying with --no-build-isolation"
             "${PIP[@]}" --no-build-isolation "${EDITABLE[@]}" >> "$OUT/setup.log" 2>&1; } \
        || { log "retrying with --no-build-isolation --no-deps"
             "${PIP[@]}" --no-build-isolation --no-deps "${EDITABLE[@]}" >> "$OUT/setup.log" 2>&1; } \
        || log "editable install failed"
    "$PY" -c 'import torch' 2>/dev/null || "${PIP[@]}" "torch==2.13.0" >> "$OUT/setup.log" 2>&1 \
        || log "no torch, and torch==2.13.0 could not be installed"
    "$PY" -c 'import pytest' 2>/dev/null || "${PIP[@]}" pytest >> "$OUT/setup.log" 2>&1 \
        || log "no pytest, and it could not be installed"
fi
"$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())' \
    >> "$OUT/setup.log" 2>&1 || log "torch does not import"

if ! "$PY" -c 'import protoflow, protoflow_som' 2>/dev/null; then
    # not installed (e.g. a setuptools too old for pyproject.toml): import from the tree
    # (enough for bench_gpu.py; tests that need the plugins' entry points may fail)
    SRC="$PWD"
    for d in plugins/protoflow-*/src examples/protoflow-vq/src; do [ -d "$d" ] && SRC="$SRC:$PWD/$d"; done
    export PYTHONPATH="$SRC${PYTHONPATH:+:$PYTHONPATH}"
    log "protoflow not installed: PYTHONPATH=$PYTHONPATH"
fi

PEERS=()
for d in ${TORCHSOM_PKGS:-} runs/peers/torchsom_pkgs /tmp/torchsom_pkgs; do
    [ -d "$d" ] && { PEERS=("$d"); break; }
done
log "torchsom folder: ${PEERS[*]:-none}"

"$PY" benchmarks/bench_gpu.py --peer-dirs "${PEERS[@]}" --out "$OUT/bench_gpu.md" --json "$OUT/bench_gpu.json" "$@" \
    > "$OUT/bench_gpu.log" 2>&1
BENCH=$?
echo "bench_gpu $BENCH" >> "$OUT/status.txt"
"$PY" -m pytest -k cuda -p no:cacheprovider -q > "$OUT/pytest_cuda.log" 2>&1
TESTS=$?
echo "pytest_cuda $TESTS" >> "$OUT/status.txt"
cat "$OUT/status.txt"
[ "$BENCH" -eq 0 ] && [ "$TESTS" -eq 0 ]
