"""Targets: where a kernel description (``numbavmap.ir``) becomes running code.

Every target offers the same five operations (``Target`` below), so the
steps before it (bind, trace, describe, fuse) and after it (``execute``:
allocate, run, check, restack) are shared. ``get`` imports a target only
when it is asked for: optional targets bring optional dependencies.
"""

from __future__ import annotations

from typing import Protocol


class Target(Protocol):
    """What the pipeline asks of a target."""

    #: The name ``vmap(..., target=name)`` selects.
    name: str

    def emit(self, description, options) -> str:
        """The kernel module's source for ``description`` (what ``inspect_kernel`` shows)."""

    def compile(self, source: str, namespace: dict, description, cache_key: str | None):
        """A callable kernel: ``kernel(*arguments, *outputs, *tail) -> first failing index``."""

    def allocate(self, shape: tuple, dtype):
        """A new, uninitialised output array."""

    def launcher(self, kernel, parallel: bool):
        """What one call runs for ``kernel`` with this parallel decision."""

    def runs_parallel(self, options, examples: int, work_per_example: int) -> bool:
        """The parallel decision for a call of ``examples`` examples."""


def get(name: str) -> Target:
    """The target called ``name`` (one of ``numbavmap.options.TARGETS``)."""
    if name == "cpu":
        from .cpu import CPU

        return CPU
    raise ValueError(f"no target named {name!r}")
