"""Import Powertools' resolver without the rest of its package (a cold-start saving).

``aws_lambda_powertools.event_handler/__init__.py`` imports every resolver Powertools has
(AppSync with asyncio, Bedrock, VPC Lattice, ...) and ``utilities/data_classes/__init__.py``
every event class, although a function uses one or two of them. Importing a submodule runs its
package's ``__init__`` first, so this module installs those two packages as *lazy* packages:
the package object exists (so its submodules import as usual) and each name its ``__init__``
re-exports is imported from its own submodule on first access. Names, values and ``__all__``
are the ones the real ``__init__`` gives (tests/unit/test_lazy_packages.py proves it).

A package whose ``__init__`` does anything but re-export names is imported as usual, as is one
already imported. Call :func:`install` before anything imports the packages;
``regiongate/api/__init__.py`` does.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from typing import Any

PACKAGES = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
)


def reexports(package: str, source: str) -> tuple[dict[str, tuple[str, str]], list[str]] | None:
    """``name -> (module, attribute)`` and ``__all__`` of an ``__init__`` that only re-exports.

    None when the source does anything else (then laziness could change behaviour).
    """
    names: dict[str, tuple[str, str]] = {}
    exported: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if alias.name == "*":
                    return None
                names[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                if alias.name == "*":
                    return None
                names[alias.asname or alias.name] = (base, alias.name)
        elif (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["__all__"]
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            exported = [str(v) for v in ast.literal_eval(node.value)]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        else:
            return None
    return names, exported


def lazy_package(package: str) -> bool:
    """Install ``package`` as a lazy package; False if it was imported (or is imported) as usual."""
    if package in sys.modules:
        return False
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    get_source = getattr(spec.loader, "get_source", None)
    source = get_source(package) if get_source else None
    table = reexports(package, source) if source is not None else None
    if table is None:
        return False
    names, exported = table
    module = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> Any:  # noqa: N807 (module-level __getattr__, PEP 562)
        try:
            origin, attribute = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(origin), attribute)
        setattr(module, name, value)
        return value

    vars(module).update(__getattr__=__getattr__, __all__=exported)
    sys.modules[package] = module
    return True


def install() -> None:
    """Make Powertools' event_handler and data_classes packages lazy (see the module doc)."""
    for package in PACKAGES:
        lazy_package(package)
