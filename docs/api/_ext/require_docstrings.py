"""Sphinx extension: the API reference is complete, or the build warns (and ``-W`` fails it).

Three checks, each a Sphinx warning of type ``protoflow``:

* ``missing-docstring``: a documented public class, exception, function, method or property
  has no docstring. Classes need a docstring of their own (inheriting the base class's text
  would describe the wrong thing); a method or property may inherit the docstring of the
  method it overrides (``inspect.getdoc``), since it then fulfils a documented contract.
* ``undocumented``: a public name of a module listed in ``protoflow_public_modules`` is not
  documented anywhere in the reference. Public means listed in the module's ``__all__``, or,
  without ``__all__``, every name without a leading underscore that the module defines itself
  (a class or function whose ``__module__`` is the module, or a top-level assignment in its
  source) -- names it merely imports are documented where they are defined.
* the ``protoflow-toplevel`` directive lists ``protoflow.__all__`` with links to where each
  name is documented; a name without a documented target is an unresolved reference, which
  ``nitpicky`` reports.

Also:

* module members: exactly the public names above are documented (undocumented ones too, so the
  docstring check sees them); a re-export of an object that another documented module defines
  is listed in the module's text with a link instead of being documented twice; public
  constants without a ``#:`` comment get a ``py:data`` entry with their value;
* references to a re-exported name (``protoflow.ConfigError``, or ``ConfigError`` inside a
  module that imports it) resolve to where the object is documented;
* napoleon runs as usual, except that the first line of an attribute's or property's docstring
  is never split into ``type: description`` (these docstrings are prose);
* bare ``name_`` (fitted attributes, written scikit-learn style) is escaped so that
  reStructuredText does not read it as a hyperlink reference;
* ``protoflow-automodule`` is ``automodule`` for optional packages (the example plugins),
  emitting a note instead of an import error when the package is not importable;
* every page is re-read on every build, so the warnings are not lost to Sphinx's incremental
  cache (``make docs`` twice in a row fails twice).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.ext.autodoc import AutodocDirective
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOGGER = logging.getLogger(__name__)

_CHECKED_KINDS = {"class", "exception", "function", "method", "property", "decorator"}


def _public_prefixes(app: Sphinx) -> tuple[str, ...]:
    mods = list(app.config.protoflow_public_modules) + list(app.config.protoflow_optional_modules)
    return tuple({m.split(".")[0] for m in mods})


def _where(obj: Any) -> str:
    target = inspect.unwrap(obj.fget if isinstance(obj, property) else obj)
    try:
        path = inspect.getsourcefile(target)
        _, line = inspect.getsourcelines(target)
    except (TypeError, OSError):
        return ""
    return f" ({path}:{line})"


def _has_docstring(what: str, obj: Any) -> bool:
    if what in {"class", "exception"}:
        doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    else:
        doc = inspect.getdoc(obj)
    return bool(doc and doc.strip())


def _check_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what not in _CHECKED_KINDS:
        return
    if not name.startswith(_public_prefixes(app)):
        return
    if any(part.startswith("_") for part in name.split(".")):
        return
    if not _has_docstring(what, obj):
        LOGGER.warning(
            "missing docstring: %s %s%s", what, name, _where(obj),
            type="protoflow", subtype="missing-docstring",
        )


# -- completeness ----------------------------------------------------------------------------


def _assigned_names(module: Any) -> set[str]:
    """Top-level names a module assigns in its own source (constants, aliases)."""
    try:
        source = Path(inspect.getsourcefile(module) or "").read_text()
    except (TypeError, OSError):
        return set()
    names: set[str] = set()
    for node in ast.parse(source).body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names


def public_names(module: Any) -> list[str]:
    """The public names of `module`: its ``__all__``, or what it defines without a ``_``."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    assigned = _assigned_names(module)
    out = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if value.__module__ == module.__name__:
                out.append(name)
        elif name in assigned:
            out.append(name)
    return out


def canonical_name(module: Any, name: str, documented: set[str]) -> str | None:
    """Where ``module.name`` is documented: its own entry, or where the object is defined."""
    own = f"{module.__name__}.{name}"
    if own in documented:
        return own
    obj = getattr(module, name)
    qualname = getattr(obj, "__qualname__", None)
    defined_in = getattr(obj, "__module__", None)
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and qualname and defined_in:
        target = f"{defined_in}.{qualname}"
        if target in documented:
            return target
    # data re-exported from a submodule (e.g. ``protoflow.hookimpl``)
    for other in documented:
        modname, _, attr = other.rpartition(".")
        if attr == name and modname.startswith(module.__name__.split(".")[0]):
            try:
                if getattr(importlib.import_module(modname), attr) is obj:
                    return other
            except (ImportError, AttributeError):
                continue
    return None


def _documented(env: Any) -> set[str]:
    return set(env.get_domain("py").objects)


def _check_complete(app: Sphinx, env: Any) -> None:
    documented = _documented(env)
    modules = list(app.config.protoflow_public_modules)
    for modname in app.config.protoflow_optional_modules:
        try:
            importlib.import_module(modname)
        except Exception:  # an optional example plugin that is absent or broken
            continue
        modules.append(modname)
    for modname in modules:
        try:
            module = importlib.import_module(modname)
        except Exception as exc:
            LOGGER.warning("cannot import %s: %r", modname, exc, type="protoflow", subtype="import")
            continue
        if modname not in documented:
            LOGGER.warning(
                "module %s is not documented in the reference", modname,
                type="protoflow", subtype="undocumented",
            )
        for name in public_names(module):
            if canonical_name(module, name, documented) is None:
                LOGGER.warning(
                    "public name %s.%s is not documented in the reference", modname, name,
                    type="protoflow", subtype="undocumented",
                )


# -- directives ------------------------------------------------------------------------------


class TopLevelDirective(SphinxDirective):
    """``.. protoflow-toplevel::`` -- a table of ``protoflow.__all__`` linking each name."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        import protoflow

        rows = [".. list-table::", "   :header-rows: 1", "   :widths: 30 70", "",
                "   * - name", "     - documented as"]
        for name in protoflow.__all__:
            if name == "__version__":
                continue
            obj = getattr(protoflow, name)
            target = _toplevel_target(name, obj)
            summary = (inspect.getdoc(obj) or "").strip().splitlines()
            first = summary[0] if summary and (inspect.isclass(obj) or callable(obj)) else ""
            rows += [f"   * - ``protoflow.{name}``", f"     - :py:obj:`{target}` {_rst_escape(first)}".rstrip()]
        content = StringList(rows, source="protoflow-toplevel")
        node = nodes.container()
        self.state.nested_parse(content, self.content_offset, node)
        return node.children


def _rst_escape(text: str) -> str:
    return text.replace("*", r"\*").replace("|", r"\|")


def _toplevel_target(name: str, obj: Any) -> str:
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    for modname in ("protoflow.hookspecs", "protoflow.registry", "protoflow.inversion"):
        module = importlib.import_module(modname)
        if getattr(module, name, None) is obj:
            return f"{modname}.{name}"
    return f"protoflow.{name}"  # unresolved: nitpicky reports it


class OptionalAutomodule(AutodocDirective):
    """``.. protoflow-automodule:: NAME`` -- ``automodule`` when NAME imports, else a note."""

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0].strip()
        try:
            importlib.import_module(modname)
        except Exception as exc:
            para = nodes.paragraph(
                text=f"{modname} is not importable here ({type(exc).__name__}: {exc}); "
                "install it to include its reference."
            )
            return [para]
        self.name = "automodule"
        return super().run()


_CODE = re.compile(r"(``.*?``|`[^`]*`)")
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w\\])([A-Za-z_][A-Za-z0-9_]*[A-Za-z0-9])_(?![\w`])")


def escape_trailing_underscores(lines: list[str]) -> None:
    """Escape bare ``name_`` (scikit-learn's fitted attributes) outside code, in place.

    The docstrings write fitted attributes such as prototypes_ bare, as numpy-style docstrings
    do; reStructuredText would read ``word_`` as a hyperlink reference. Literal blocks (after a
    ``::`` line) and inline code are left alone.
    """
    in_literal, literal_indent = False, 0
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if in_literal:
            if stripped and indent <= literal_indent:
                in_literal = False
            else:
                continue
        if stripped.startswith(">>>"):
            continue
        parts = _CODE.split(line)
        lines[i] = "".join(
            part if j % 2 else _TRAILING_UNDERSCORE.sub(r"\1\\_", part)
            for j, part in enumerate(parts)
        )
        if stripped.endswith("::"):
            in_literal, literal_indent = True, indent


def _escape(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if name.startswith(_public_prefixes(app)):
        escape_trailing_underscores(lines)


# -- member selection --------------------------------------------------------------------------


def _module_of_member(app: Sphinx, name: str) -> Any:
    modname = name.rpartition(".")[0]
    if modname not in app.config.protoflow_public_modules + app.config.protoflow_optional_modules:
        return None
    try:
        return importlib.import_module(modname)
    except Exception:
        return None


def _documented_elsewhere(app: Sphinx, module: Any, obj: Any) -> str | None:
    """The canonical name of a re-export that a page of its own defining module documents."""
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return None
    home = getattr(obj, "__module__", None)
    if home == module.__name__ or home not in app.config.protoflow_public_modules:
        return None
    return f"{home}.{obj.__qualname__}"


def _skip_member(app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """Module members: document exactly the public names (see `public_names`), once."""
    if what != "module":
        return None
    # autodoc passes the member's short name; the module is the one being documented
    module = _CURRENT_MODULE.get("module")
    if module is None:
        return None
    if name not in public_names(module):
        return True
    if _documented_elsewhere(app, module, obj):
        return True  # listed in the module's docstring instead (see `_module_docstring`)
    return False


_CURRENT_MODULE: dict[str, Any] = {}


def _module_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what != "module":
        return
    _CURRENT_MODULE["module"] = obj if name in (
        app.config.protoflow_public_modules + app.config.protoflow_optional_modules) else None
    if _CURRENT_MODULE["module"] is None:
        return
    again = [
        target for n in public_names(obj)
        if (target := _documented_elsewhere(app, obj, getattr(obj, n))) is not None
    ]
    if again and name != "protoflow":  # the top-level page lists them in a table instead
        lines += ["", "Also exported here (documented where defined): "
                  + ", ".join(f":py:obj:`{t}`" for t in again) + ".", ""]
    # autodoc's member search only finds module-level data with a ``#:`` doc comment; the other
    # public constants (and instances such as ``hookimpl``) are documented explicitly
    try:
        attr_docs = {key[1] for key in ModuleAnalyzer.for_module(name).find_attr_docs()}
    except Exception:
        attr_docs = set()
    for member in public_names(obj):
        value = getattr(obj, member)
        if member in attr_docs or inspect.isclass(value) or inspect.isroutine(value):
            continue
        if inspect.ismodule(value) or _defined_elsewhere(app, obj, member, value):
            continue
        # written by hand: autodata would show the docstring of the value's class
        text = repr(value)
        if " at 0x" in text or len(text) > 200 or "\n" in text:  # an instance: name its type
            kind = type(value)
            option = f":type: {kind.__module__.split('.')[0]}.{kind.__qualname__}"
        else:
            option = f":value: {text}"
        lines += ["", f".. py:data:: {member}", f"   {option}", ""]


def _defined_elsewhere(app: Sphinx, module: Any, name: str, value: Any) -> bool:
    """Whether another documented module assigns `value` to `name` (``protoflow.hookimpl``)."""
    for modname in app.config.protoflow_public_modules:
        if modname == module.__name__:
            continue
        try:
            other = importlib.import_module(modname)
        except Exception:
            continue
        if getattr(other, name, None) is value and name in _assigned_names(other):
            return True
    return False


# -- cross-references to re-exported names -------------------------------------------------------


def _resolve_reexport(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``protoflow.ConfigError`` (or ``ConfigError`` inside a module that imports it)
    to where the object is documented, ``protoflow.errors.ConfigError``."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    candidates = []
    modname, _, attr = target.rpartition(".")
    if modname:
        candidates.append((modname, attr))
    else:
        current = node.get("py:module")
        if current:
            candidates.append((current, target))
    for modname, attr in candidates:
        try:
            obj = getattr(importlib.import_module(modname), attr)
        except Exception:
            continue
        home, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if not (home and qualname) or f"{home}.{qualname}" == target:
            continue
        domain = env.get_domain("py")
        new = node.deepcopy()
        new["reftarget"] = f"{home}.{qualname}"
        return domain.resolve_xref(
            env, node.get("refdoc", ""), app.builder, node["reftype"], new["reftarget"], new, contnode
        )
    return None


def _numpy_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """napoleon, except that an attribute's or property's first line is never read as
    ``type: description`` (these docstrings are prose, often with a colon in them)."""
    from sphinx.ext.napoleon import _process_docstring

    _process_docstring(app, "method" if what in {"attribute", "data", "property"} else what,
                       name, obj, options, lines)


def _always_reread(app: Sphinx, env: Any, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    return sorted(env.found_docs)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("protoflow_public_modules", [], "env")
    app.add_config_value("protoflow_optional_modules", [], "env")
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("sphinx.ext.napoleon")
    from sphinx.ext.napoleon import _process_docstring

    for listener in list(app.events.listeners["autodoc-process-docstring"]):
        if listener.handler is _process_docstring:
            app.disconnect(listener.id)
    app.connect("autodoc-process-docstring", _module_docstring, priority=300)
    app.connect("autodoc-process-docstring", _escape, priority=400)  # before napoleon
    app.connect("autodoc-process-docstring", _numpy_docstring, priority=500)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-process-docstring", _check_docstring)
    app.connect("env-check-consistency", _check_complete)
    app.connect("env-get-outdated", _always_reread)
    app.add_directive("protoflow-toplevel", TopLevelDirective)
    app.add_directive("protoflow-automodule", OptionalAutomodule)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
