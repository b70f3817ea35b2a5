"""The public API is what ``corral.__all__`` says, and every public name is documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import corral
import corral.sync


def test_all_is_sorted_and_complete() -> None:
    names = [n for n in corral.__all__ if n != "__version__"]
    assert names == sorted(names)
    exported = {
        name
        for name, value in vars(corral).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert exported == set(names)


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for module in (corral, corral.sync):
        for name in module.__all__:
            value = getattr(module, name)
            if name == "__version__":
                continue
            if not (inspect.getdoc(value) or "").strip():
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_") or not callable(member):
                        continue
                    if not (inspect.getdoc(member) or "").strip():
                        missing.append(f"{module.__name__}.{name}.{attr}")
    assert missing == []


def test_every_module_opens_with_a_docstring() -> None:
    undocumented = []
    for info in pkgutil.walk_packages(corral.__path__, "corral."):
        if info.name == "corral.__main__":
            continue  # running it is its whole job
        module = importlib.import_module(info.name)
        if not (module.__doc__ or "").strip():
            undocumented.append(info.name)
    assert undocumented == []
