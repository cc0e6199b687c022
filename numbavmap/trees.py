"""Flatten and rebuild containers (pytrees) of tuples, lists and namedtuples.

A *tree* is a value built from tuples, lists and namedtuples; anything else is
a *leaf*. ``flatten`` returns the leaves in depth-first order and a
``TreeDef`` that ``unflatten`` uses to put leaves back into the same shape::

    >>> leaves, tree = flatten((1, [2, 3]))
    >>> leaves
    [1, 2, 3]
    >>> unflatten(tree, ["a", "b", "c"])
    ('a', ['b', 'c'])
"""

from __future__ import annotations

from dataclasses import dataclass


def is_namedtuple_class(cls: type) -> bool:
    """True for classes made by ``collections.namedtuple`` / ``typing.NamedTuple``."""
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


@dataclass(frozen=True)
class TreeDef:
    """The structure of a tree: a leaf, or a container of child structures.

    ``kind`` is ``"leaf"``, ``"tuple"``, ``"list"`` or ``"namedtuple"``;
    ``cls`` is the namedtuple class for ``"namedtuple"`` nodes.
    """

    kind: str
    children: tuple[TreeDef, ...] = ()
    cls: type | None = None

    @property
    def is_leaf(self) -> bool:
        return self.kind == "leaf"

    @property
    def num_leaves(self) -> int:
        if self.is_leaf:
            return 1
        return sum(child.num_leaves for child in self.children)

    def __str__(self) -> str:
        if self.is_leaf:
            return "*"
        inner = ", ".join(str(child) for child in self.children)
        if self.kind == "list":
            return f"[{inner}]"
        if self.kind == "namedtuple":
            return f"{self.cls.__name__}({inner})"
        return f"({inner},)" if len(self.children) == 1 else f"({inner})"


LEAF = TreeDef("leaf")


def _node_kind(value) -> str:
    cls = type(value)
    if cls is tuple:
        return "tuple"
    if cls is list:
        return "list"
    if isinstance(value, tuple) and is_namedtuple_class(cls):
        return "namedtuple"
    if isinstance(value, tuple):
        return "tuple"
    return "leaf"


def flatten(value) -> tuple[list, TreeDef]:
    """Return ``(leaves, treedef)`` for a (nested) tuple / list / namedtuple."""
    leaves: list = []
    tree = _flatten_into(value, leaves)
    return leaves, tree


def _flatten_into(value, leaves: list) -> TreeDef:
    kind = _node_kind(value)
    if kind == "leaf":
        leaves.append(value)
        return LEAF
    children = tuple(_flatten_into(child, leaves) for child in value)
    cls = type(value) if kind == "namedtuple" else None
    return TreeDef(kind, children, cls)


def unflatten(tree: TreeDef, leaves) -> object:
    """Rebuild the value of structure ``tree`` from ``leaves`` (depth-first)."""
    iterator = iter(leaves)
    value = _build(tree, iterator)
    return value


def _build(tree: TreeDef, leaves):
    if tree.is_leaf:
        return next(leaves)
    children = [_build(child, leaves) for child in tree.children]
    if tree.kind == "list":
        return children
    if tree.kind == "namedtuple":
        return tree.cls(*children)
    return tuple(children)


def leaf_paths(tree: TreeDef, prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """The index path of every leaf, depth-first: ``((0,), (1, 0), (1, 1))``."""
    if tree.is_leaf:
        return [prefix]
    paths: list[tuple[int, ...]] = []
    for index, child in enumerate(tree.children):
        paths.extend(leaf_paths(child, prefix + (index,)))
    return paths


def namedtuple_classes(trees) -> list[type]:
    """The distinct namedtuple classes of ``trees``, depth-first, each once.

    Two classes may share a ``__name__`` (from different modules or scopes).
    """
    classes: list[type] = []
    for tree in trees:
        if tree.kind == "namedtuple" and tree.cls not in classes:
            classes.append(tree.cls)
        classes += [cls for cls in namedtuple_classes(tree.children) if cls not in classes]
    return classes
