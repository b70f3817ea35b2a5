"""Which processors can run in a child process, and how a child finds them.

A child imports its processor by name, so the processor must be reachable by a
``"package.module:function"`` path: given as that string, or as a function
defined at the top level of an importable module (its path is read from its
``__module__`` and ``__qualname__``). A lambda, a closure, a bound method, a
``functools.partial`` or a callable object has no such path and is refused when
the worker is made, with what to do instead.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ProcessTarget", "load_target", "resolve_target"]


@dataclass(frozen=True, slots=True)
class ProcessTarget:
    """A processor a child can import: its ``module:function`` path."""

    module: str
    function: str

    @property
    def spec(self) -> str:
        """``module:function``."""
        return f"{self.module}:{self.function}"


def _refuse(what: str) -> TypeError:
    return TypeError(
        f"a process worker (processes=...) cannot run {what}: its children import the "
        "processor by name, so define it with `def` at the top level of a module and pass "
        "that function or its path as 'package.module:function'"
    )


def load_target(spec: str) -> Callable[..., Any]:
    """Import ``"module:function"`` and return the function (ValueError/TypeError say
    what is wrong: the form, the module, the name, or that it is not callable)."""
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"a processor path must look like 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"cannot import module {module_name!r} of processor {spec!r}: {error}"
        ) from None
    target: Any = module
    for part in name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(
                f"module {module_name!r} has no attribute {name!r} (processor {spec!r})"
            ) from None
    if not callable(target):
        raise TypeError(f"processor {spec!r} is not a function")
    return target  # type: ignore[no-any-return]


def resolve_target(processor: object) -> tuple[ProcessTarget, Callable[..., Any]]:
    """The path a child imports ``processor`` by, and the function itself; refuses
    what a child could not import, before any process starts."""
    if isinstance(processor, str):
        function = load_target(processor)
        module, _, name = processor.partition(":")
        return ProcessTarget(module, name), function
    if not callable(processor):
        raise TypeError("processor must be a function taking a Job, or 'package.module:function'")
    if not (inspect.isfunction(processor) or inspect.isbuiltin(processor)):
        raise _refuse(f"{type(processor).__name__} object {processor!r}")
    name = processor.__qualname__
    if name == "<lambda>" or "<lambda>" in name:
        raise _refuse("a lambda")
    if "<locals>" in name:
        raise _refuse(f"the nested function {name!r} (a closure)")
    module_name = processor.__module__
    module = sys.modules.get(module_name)
    if module is None:
        raise _refuse(f"{name!r}, whose module {module_name!r} is not importable")
    if module_name == "__main__" and getattr(module, "__file__", None) is None:
        raise _refuse(f"{name!r}, defined in an interactive session")
    found: Any = module
    for part in name.split("."):
        found = getattr(found, part, None)
    if found is not processor:
        raise _refuse(f"{name!r}: {module_name}.{name} is not this function")
    return ProcessTarget(module_name, name), processor
