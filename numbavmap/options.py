"""The compile options of a ``vmap``: one frozen, validated value.

Every option that changes the generated or compiled code lives here, so that
one value reaches every step (describe, fuse, the target's printer and
compiler, the cache key) instead of each step reading its own attribute.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    """``parallel``, ``fastmath``, ``boundscheck``, ``cache`` and ``target`` of one vmap.

    ``parallel`` is ``"auto"``, True or False; ``boundscheck`` None follows
    Numba's default; ``target`` names a target of ``numbavmap.targets``.
    Construct with :meth:`checked` to validate user input.
    """

    parallel: bool | str = "auto"
    fastmath: bool = False
    boundscheck: bool | None = None
    cache: bool = False
    target: str = "cpu"

    @classmethod
    def checked(cls, *, parallel="auto", fastmath=False, boundscheck=None, cache=False,
                target="cpu") -> Options:
        """Options from ``vmap``'s keywords, with a clear error for each bad value."""
        if not (parallel is True or parallel is False
                or isinstance(parallel, str) and parallel == "auto"):
            raise ValueError(f"parallel must be 'auto', True or False, got {parallel!r}")
        if boundscheck is not None and not isinstance(boundscheck, bool):
            raise TypeError(f"boundscheck must be None, True or False, got {boundscheck!r}")
        if not isinstance(target, str):
            raise TypeError(f"target must be a target's name (a str), got {target!r}")
        return cls(parallel, bool(fastmath), boundscheck, bool(cache), target)

    def numba_flags(self) -> str:
        """The ``@njit`` keywords these options set, as source: ``fastmath=False, ...``."""
        flags = f"fastmath={self.fastmath}, cache={self.cache}"
        if self.boundscheck is not None:
            flags += f", boundscheck={self.boundscheck}"
        return flags

    def key(self) -> str:
        """The options that change compiled code, for the on-disk cache key
        (Numba's own cache index leaves its flags out)."""
        return f"fastmath={self.fastmath} boundscheck={self.boundscheck}"
