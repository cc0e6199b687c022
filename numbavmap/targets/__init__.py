"""Targets: where a kernel description (``numbavmap.ir``) becomes running code.

Every target offers the same five operations (``Target`` below), so the
steps before it (bind, trace, describe, fuse) and after it (``execute``:
allocate, run, check, restack) are shared. ``get`` imports a built-in
target only when it is asked for (optional targets bring optional
dependencies); ``register`` adds one. docs/architecture.md shows how.
"""

from __future__ import annotations

import importlib
from typing import Protocol


class Target(Protocol):
    """What the pipeline asks of a target."""

    #: The name ``vmap(..., target=name)`` selects.
    name: str

    def emit(self, description, options) -> str:
        """The kernel module's source for ``description`` (what ``inspect_kernel`` shows)."""

    def compile(self, source: str, namespace: dict, description, cache_key: str | None):
        """A callable kernel: ``kernel(*arguments, *outputs, *tail) -> first failing
        index``, with a status array (``np.uint8``, one per example) after the
        outputs where ``description.can_fail``."""

    def allocate(self, shape: tuple, dtype):
        """A new, uninitialised output array."""

    def launcher(self, kernel, parallel: bool):
        """What one call runs for ``kernel`` with this parallel decision."""

    def runs_parallel(self, options, examples: int, work_per_example: int) -> bool:
        """The parallel decision for a call of ``examples`` examples."""

    # A target with its own launch sequence (device copies, device arrays,
    # status kernels: CUDA) instead offers ``call(vmapped, args, kwargs)``,
    # which reuses bind, trace and describe through ``vmapped``.


#: Targets by name: built in (imported when first asked for), then registered.
_BUILT_IN = {"cpu": (".cpu", "CPU"), "cuda": (".cuda", "CUDA")}
_REGISTERED: dict[str, Target] = {}


def register(target: Target) -> None:
    """Make ``target`` available as ``vmap(..., target=target.name)``."""
    if target.name in _BUILT_IN:
        raise ValueError(f"{target.name!r} is a built-in target")
    _REGISTERED[target.name] = target


def names() -> list[str]:
    """The names ``vmap(..., target=...)`` accepts."""
    return sorted([*_BUILT_IN, *_REGISTERED])


def get(name: str) -> Target:
    """The target called ``name``."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILT_IN:
        module, attribute = _BUILT_IN[name]
        return getattr(importlib.import_module(module, __name__), attribute)
    raise ValueError(f"target={name!r} is not a known target; use one of {names()}")
