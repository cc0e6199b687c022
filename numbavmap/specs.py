"""``in_axes`` / ``out_axes`` specifications: validation and prefix matching.

A spec is an int, ``None``, or a tuple/list of specs. It is matched against a
value's tree structure as a *prefix*: an int or ``None`` applies to every leaf
below it, a container must have one entry per child of the matching
container (tuple and list are interchangeable; a namedtuple is matched by its
length). Everything here runs before any tracing or compiling.
"""

from __future__ import annotations

import numbers

from .trees import TreeDef


def normalize_spec(spec, name: str):
    """Check a spec's leaves and return it with lists as tuples and NumPy ints as ints.

    Raises ``TypeError`` naming the spec for a leaf that is neither an int
    nor ``None`` (floats, strings and bools included, as in ``jax.vmap``).
    """
    if spec is None:
        return None
    if isinstance(spec, (tuple, list)):
        return tuple(normalize_spec(entry, name) for entry in spec)
    if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        return int(spec)
    raise TypeError(
        f"{name} must be an int, None, or a (nested) tuple/list of those; "
        f"got {spec!r} of type {type(spec).__name__}"
    )


def split_in_axes(in_axes, num_positional: int) -> tuple:
    """One spec per positional argument: broadcast an int/None, check a tuple's length."""
    if not isinstance(in_axes, tuple):
        return (in_axes,) * num_positional
    if len(in_axes) != num_positional:
        raise ValueError(
            f"in_axes has {len(in_axes)} entries but the function was called with "
            f"{num_positional} positional argument{'s' if num_positional != 1 else ''}; "
            "in_axes needs one entry per positional argument "
            "(keyword arguments are always mapped over axis 0)"
        )
    return in_axes


def prefix_axes(spec, tree: TreeDef, spec_name: str, value_name: str) -> list:
    """Broadcast a prefix spec to one axis (int or None) per leaf of ``tree``.

    Raises ``ValueError`` showing the spec and the value's structure when the
    spec is not a tree prefix of the value.
    """
    axes: list = []
    _collect(spec, tree, axes, spec, spec_name, value_name)
    return axes


def _collect(spec, tree: TreeDef, axes: list, whole_spec, spec_name: str, value_name: str):
    if not isinstance(spec, tuple):
        axes.extend([spec] * tree.num_leaves)
        return
    if tree.is_leaf or len(spec) != len(tree.children):
        raise ValueError(
            f"{spec_name} specification must be a tree prefix of the corresponding "
            f"value: got {spec_name}={whole_spec!r} for {value_name} of structure {tree} "
            f"(at entry {spec!r})"
        )
    for entry, child in zip(spec, tree.children):
        _collect(entry, child, axes, whole_spec, spec_name, value_name)


def normalize_in_axis(axis: int, ndim: int) -> int | None:
    """``axis`` in ``[0, ndim)``, or None when it is out of range for ``ndim``."""
    if -ndim <= axis < ndim:
        return axis % ndim
    return None


def normalize_out_axis(axis: int, ndim: int) -> int | None:
    """An output axis counted in the stacked rank ``ndim + 1``; None when out of range."""
    return normalize_in_axis(axis, ndim + 1)
