"""Modules plug in by existing: a package's public submodules are found, not listed."""

import importlib
import pkgutil
from types import ModuleType


def submodules(package: str) -> list[ModuleType]:
    """Import every submodule of ``package`` whose name does not start with '_', in name order."""
    path = importlib.import_module(package).__path__
    names = sorted(info.name for info in pkgutil.iter_modules(path) if not info.name.startswith("_"))
    return [importlib.import_module(f"{package}.{name}") for name in names]
