"""The kernel IR: what a kernel does, independent of the target that prints it.

``describe`` (``Specialization.build``, or the ``@njit`` entry from Numba
types) produces a ``KernelDescription``: the kernel's array arguments and the
dimension each loop level maps, how they are put back together into the
per-example call, the outputs with their ``out_axes``, and a body that is
either fused loops (``body``, scalar Python over per-example elements, from
``numbavmap.fuse``) or a call of the per-example function (``not_fused``
says why). Nothing here knows NumPy values or compile options; a target
(``numbavmap.targets``) turns a description and ``Options`` into code.
"""

from __future__ import annotations

from dataclasses import dataclass

from .trees import TreeDef


def loop_index(level: int) -> str:
    """The loop variable of nesting level ``level``: ``i``, then ``i1``, ``i2``..."""
    return "i" if level == 0 else f"i{level}"


@dataclass(frozen=True)
class KernelArg:
    """One array or scalar the kernel receives.

    ``axes[k]`` is the dimension of the whole array that loop level ``k``
    indexes (None: unmapped at that level); ``ndim`` is the array's rank.
    """

    name: str
    ndim: int
    axes: tuple[int | None, ...]

    @property
    def example_ndim(self) -> int:
        return self.ndim - sum(axis is not None for axis in self.axes)

    def element(self, elements) -> str:
        """The expression for one example, with ``elements`` indexing its own dims.

        ``elements`` None gives the example itself: ``x[i]``, ``x[:, i]``, ``x``.
        """
        positions = [None] * self.ndim
        for level, axis in enumerate(self.axes):
            if axis is not None:
                positions[axis] = loop_index(level)
        rest = iter(elements if elements is not None else [":"] * self.example_ndim)
        parts = [position if position is not None else next(rest) for position in positions]
        while parts and parts[-1] == ":":
            parts.pop()
        return f"{self.name}[{', '.join(parts)}]" if parts else self.name


@dataclass(frozen=True)
class CallArg:
    """One argument of the per-example call: its keyword (None if positional)
    and its tree of kernel arguments, consumed in order."""

    keyword: str | None
    tree: TreeDef


@dataclass(frozen=True)
class KernelOutput:
    """One stacked output: its path in the result, per-example rank, and the
    dimension of the stacked array each loop level writes."""

    name: str
    path: tuple[int, ...]
    ndim: int
    axes: tuple[int, ...]

    def element(self, elements) -> str:
        """The stacked output's element for the current example and ``elements``."""
        positions = [None] * (self.ndim + len(self.axes))
        for level, axis in enumerate(self.axes):
            positions[axis] = loop_index(level)
        rest = iter(elements)
        return f"{self.name}[{', '.join(p if p is not None else next(rest) for p in positions)}]"

    def example_shape(self) -> str:
        """The per-example shape as read from the stacked output array."""
        dims = [f"{self.name}.shape[{d}]" for d in range(self.ndim + len(self.axes))
                if d not in self.axes]
        return tuple_source(dims)


@dataclass(frozen=True)
class KernelDescription:
    """The kernel's structure: everything the generator needs besides the options.

    ``body``, when set, replaces the per-example call and output writes with
    fused code (see ``numbavmap.fuse``); ``not_fused`` says why it is not set.
    ``namedtuples`` pairs each namedtuple class in the call with its (unique)
    global name in the module.
    """

    function: str
    args: tuple[KernelArg, ...]
    call: tuple[CallArg, ...]
    outputs: tuple[KernelOutput, ...]
    levels: int = 1
    namedtuples: tuple[tuple[type, str], ...] = ()
    body: tuple[str, ...] | None = None
    not_fused: str | None = None

    @property
    def example_name(self) -> str:
        return f"{self.function}_example"

    @property
    def kernel_name(self) -> str:
        return f"{self.function}_kernel"

    @property
    def can_fail(self) -> bool:
        """Whether an example can fail: a call into the per-example function, or
        fused code with a ``return`` (a status). A kernel for such a body takes
        a status array (``np.uint8``, one per example) right after the outputs."""
        return self.body is None or any(line.lstrip().startswith("return")
                                        for line in self.body)

    @property
    def sizes(self) -> list[str]:
        """Parameters holding the inner loop levels' sizes."""
        return [f"n{level}" for level in range(1, self.levels)]


def tree_expression(tree: TreeDef, leaves, class_names: dict) -> str:
    """Source building ``tree`` from ``leaves`` (expressions, consumed in order).

    ``class_names`` gives each namedtuple class's name in the generated module.
    """
    if tree.is_leaf:
        return next(leaves)
    parts = [tree_expression(child, leaves, class_names) for child in tree.children]
    if tree.kind == "namedtuple":
        return f"{class_names[tree.cls]}({', '.join(parts)})"
    return tuple_source(parts)


def tuple_source(parts: list[str]) -> str:
    """Source of a tuple of ``parts`` (expressions): ``(a,)``, ``(a, b)``."""
    return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"
