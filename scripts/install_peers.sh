#!/usr/bin/env bash
# Install the benchmark's SOM peers (xpysom, torchsom, intrasom) into their own folders under
# /tmp, as benchmarks/README.md describes, so that nothing in the project's venv changes (the
# benchmark appends these folders to sys.path, so the venv's numpy and torch always win).
# Usage: scripts/install_peers.sh [VENV]   (default .venv). Skips a folder that already exists.
set -euo pipefail
VENV=${1:-.venv}
PIP="$VENV/bin/pip"
[ -d /tmp/xpysom_pkgs ] || "$PIP" install -q --no-deps --target /tmp/xpysom_pkgs xpysom==1.0.7
[ -d /tmp/torchsom_pkgs ] || "$PIP" install -q --no-deps --target /tmp/torchsom_pkgs torchsom==1.3.1 tqdm hdbscan
[ -d /tmp/isom_pkgs ] || "$PIP" install -q --target /tmp/isom_pkgs intrasom==1.1.3
