"""Sphinx configuration of the protoflow API reference (``make docs``).

The reference is generated from the docstrings (numpy style, through napoleon). The build is
meant to run with ``-W``: a public class, function, method or property without a docstring, a
public name that no page documents, and a cross-reference that does not resolve are all
warnings, hence errors (see ``_ext/require_docstrings.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE / "_ext"))
# The core and the built-in plugins are installed (editable) into the virtualenv; the source
# folders are added as well so that the reference also builds from a bare checkout with only
# the dependencies installed (and the example plugins are found without installing them).
for src in [
    ROOT,
    *sorted((ROOT / "plugins").glob("protoflow-*/src")),
    *sorted((ROOT / "examples").glob("*/src")),
]:
    if str(src) not in sys.path:
        sys.path.append(str(src))

project = "protoflow"
author = "the protoflow authors"
copyright = "the protoflow authors"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
    "require_docstrings",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = "protoflow API reference"

# -- autodoc ---------------------------------------------------------------------------------
autodoc_default_options = {
    "members": True,
    "undoc-members": True,  # surface undocumented members, so the docstring check sees them
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
# Everything protoflow imports is installed (torch and dask included); only mock what is not.
autodoc_mock_imports: list[str] = []
for _optional in ("torch", "dask", "distributed", "matplotlib", "sklearn"):
    try:
        __import__(_optional)
    except ImportError:
        autodoc_mock_imports.append(_optional)

# -- napoleon (numpy-style docstrings) -------------------------------------------------------
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# Parameter and return types are prose here ("ndarray of shape (n, d)"), not type names: render
# them as text instead of turning every word into a cross-reference.
napoleon_use_param = False
napoleon_use_rtype = False
napoleon_use_ivar = False
# "Attributes" sections are rendered like "Parameters": names with prose types.
napoleon_custom_sections = [("Attributes", "params_style")]
napoleon_preprocess_types = False

# -- cross-references ------------------------------------------------------------------------
nitpicky = True
# intersphinx cannot download anything where the reference is built (offline), so references
# to third-party and standard-library types used in signatures cannot resolve. Ignore exactly
# those namespaces; every reference to a protoflow name must resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|scipy|torch|dask|distributed|pluggy|attrs|attr|matplotlib|sklearn|pytest)(\..*)?"),
    (r"py:.*", r"(collections|collections\.abc|os|pathlib|types|typing|io|contextlib|numbers)\..*"),
    # the standard library types that annotations name without their module
    (r"py:.*", r"(Path|PathLike|ModuleType|TextIO|Callable|Iterable|Iterator|Mapping|Sequence)"),
    (r"py:.*", r"(ndarray|NDArray|ArrayLike|DTypeLike|Tensor|Self)"),
    # the guides (docs/*.md) link to folders of the repository that are not part of this HTML
    # reference (GitHub renders those links); links between the guides must resolve
    (r"myst", r".*\b(examples|benchmarks|reproduce|plugins)(/[\w.-]+)*/?"),
]
myst_heading_anchors = 3  # the guides link to each other's sections

# -- the completeness check (see _ext/require_docstrings.py) --------------------------------
# Every public name of these modules must be documented somewhere in the reference: the names in
# a module's ``__all__``, or, without ``__all__``, the names without a leading underscore that
# the module itself defines (not what it imports).
protoflow_public_modules = [
    "protoflow",
    "protoflow.backend",
    "protoflow.xp",
    "protoflow.progress",
    "protoflow.validation",
    "protoflow.params",
    "protoflow.missing",
    "protoflow.sklearn_compat",
    "protoflow.interop",
    "protoflow.neighborhood",
    "protoflow.topology",
    "protoflow.inversion",
    "protoflow.protocols",
    "protoflow.base",
    "protoflow.prototypes",
    "protoflow.registry",
    "protoflow.hookspecs",
    "protoflow.errors",
    "protoflow.io",
    "protoflow.metrics",
    "protoflow.data",
    "protoflow.scale",
    "protoflow.testing",
    "protoflow.report",
    "protoflow.plot",
    "protoflow.config",
    "protoflow.pipeline",
    "protoflow.pipeline.context",
    "protoflow.pipeline.data",
    "protoflow.pipeline.encode",
    "protoflow.pipeline.fit",
    "protoflow.pipeline.evaluate",
    "protoflow.pipeline.paths",
    "protoflow.pipeline.artifacts",
    "protoflow.pipeline.result",
    "protoflow.runs",
    "protoflow.serve",
    "protoflow_som",
    "protoflow_gng",
    "protoflow_kmeans",
    "protoflow_desom",
    "protoflow_encoders",
    "protoflow_encoders.torch_training",
    "protoflow_music",
]
# Example plugins: checked and documented only when importable (they are optional installs).
protoflow_optional_modules = ["protoflow_vq", "protoflow_example"]
