"""The numba-compiled engine: without a writable cache directory, imported lazily, and the
checks `GNGState.run` makes because the kernel does not check bounds."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from protoflow_gng import GrowingNeuralGas
from protoflow_gng._engine import GNGState

from protoflow.testing import blobs

FIT = """
import numpy as np
from protoflow_gng import GrowingNeuralGas, _engine
from protoflow.testing import blobs
m = GrowingNeuralGas(max_units=12, epochs=3, seed=4).fit(blobs(300, 3, 3, seed=5))
print(type(_engine._run._cache).__name__, repr(float(m.prototypes_.sum())), len(m.topology_.edges))
"""


def test_first_fit_without_a_writable_cache():
    """numba raises at decoration when no cache location can be written (a read-only install
    and home directory); the engine then compiles without a cache, and fits the same."""
    env = dict(os.environ, NUMBA_CACHE_LOCATOR_CLASSES="IPythonCacheLocator")  # never applies
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    cache, total, n_edges = out.stdout.split()
    assert cache == "NullCache"
    m = GrowingNeuralGas(max_units=12, epochs=3, seed=4).fit(blobs(300, 3, 3, seed=5))
    assert float(total) == float(m.prototypes_.sum()) and int(n_edges) == len(m.topology_.edges)
    assert np.isfinite(m.prototypes_).all()


def test_loading_the_plugin_does_not_import_numba():
    """Every protoflow session imports the registered models; numba comes with the first fit."""
    code = ("import sys, protoflow; protoflow.create_model('gng', max_units=5); "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False"


def test_run_checks_what_the_kernel_would_not():
    s = GNGState(np.array([[0.0, 0.0], [1.0, 0.0]]), max_units=4)
    params = dict(eps_b=0.2, eps_n=0.01, max_age=5, insert_every=10, alpha=0.5, decay=0.9,
                  max_units=4)
    Z = np.zeros((3, 2))
    with pytest.raises(IndexError):
        s.run(Z, np.array([0, 3]), 0, **params)
    with pytest.raises(ValueError, match="shape"):
        s.run(np.zeros((3, 3)), np.array([0]), 0, **params)
    with pytest.raises(ValueError, match="observed"):
        s.run(Z, np.array([0]), 0, observed=np.ones((3, 1), bool), **params)
    assert s.run(Z, np.array([], dtype=np.int64), 0, **params) == 0
