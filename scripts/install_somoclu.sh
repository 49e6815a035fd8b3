#!/usr/bin/env bash
# Build somoclu 1.7.6 (GPL-3; a comparison library for tests and benchmarks, never a protoflow
# dependency) and install it into the project's venv. Its setup.py needs an old setuptools and
# tries a CUDA build when it finds nvcc, so the wheel is built in a throw-away environment with
# CUDAHOME pointing nowhere, and only the wheel is installed (with --no-deps) into .venv.
# Usage: scripts/install_somoclu.sh [VENV]   (default .venv). Needs a C++ compiler.
set -euo pipefail
VENV="${1:-.venv}"
if "$VENV/bin/python" -c "import somoclu" 2>/dev/null; then
    echo "somoclu is already installed in $VENV"
    exit 0
fi
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
python3 -m venv "$BUILD/venv"
"$BUILD/venv/bin/pip" install -q "setuptools<58" wheel "numpy<2.5"
CUDAHOME=/nonexistent "$BUILD/venv/bin/pip" wheel -q --no-build-isolation --no-deps somoclu==1.7.6 -w "$BUILD/wheel"
"$VENV/bin/pip" install -q --no-deps "$BUILD"/wheel/somoclu-1.7.6-*.whl
"$VENV/bin/python" -c "import somoclu; print('somoclu', somoclu.__file__)"
