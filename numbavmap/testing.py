"""Helpers for users' test suites: check ``vmap(f)`` against a plain Python loop.

The loop is the definition of correct: take example ``k`` of every mapped
argument with ``np.take``, call ``f`` in Python, and ``np.stack`` the results
along ``out_axes``.
"""

from __future__ import annotations

import numpy as np

from .specs import normalize_spec, prefix_axes, split_in_axes
from .trees import flatten, unflatten


def _mapped_size(leaves, axes, axis_size):
    sizes = {np.shape(value)[axis] for value, axis in zip(leaves, axes) if axis is not None}
    return sizes.pop() if sizes else axis_size


def loop_examples(f, args, kwargs, in_axes=0, axis_size=None) -> list:
    """``[f(example 0), f(example 1), ...]``, each computed by Python."""
    specs = split_in_axes(normalize_spec(in_axes, "in_axes"), len(args))
    flat = [(flatten(arg), spec) for arg, spec in zip(args, specs)]
    flat_kw = {name: flatten(value) for name, value in kwargs.items()}
    axes = [prefix_axes(spec, tree, "in_axes", "argument") for (_, tree), spec in flat]
    kw_axes = {name: [0] * len(leaves) for name, (leaves, _) in flat_kw.items()}
    all_leaves = [leaf for (leaves, _), _ in flat for leaf in leaves]
    all_leaves += [leaf for leaves, _ in flat_kw.values() for leaf in leaves]
    all_axes = [a for arg_axes in axes for a in arg_axes] + [
        a for arg_axes in kw_axes.values() for a in arg_axes]
    size = _mapped_size(all_leaves, all_axes, axis_size)

    def take(leaves, leaf_axes, k):
        return [leaf if axis is None else np.take(leaf, k, axis=axis)
                for leaf, axis in zip(leaves, leaf_axes)]

    results = []
    for k in range(size):
        call_args = [unflatten(tree, take(leaves, arg_axes, k))
                     for ((leaves, tree), _), arg_axes in zip(flat, axes)]
        call_kwargs = {name: unflatten(tree, take(leaves, kw_axes[name], k))
                       for name, (leaves, tree) in flat_kw.items()}
        results.append(f(*call_args, **call_kwargs))
    return results


def stack_examples(results: list, out_axes=0):
    """Stack per-example results along ``out_axes`` (``None``: take example 0's)."""
    if not results:
        raise ValueError("the loop reference needs at least one example")
    first_leaves, tree = flatten(results[0])
    axes = prefix_axes(normalize_spec(out_axes, "out_axes"), tree, "out_axes", "the result")
    columns = list(zip(*(flatten(result)[0] for result in results)))
    stacked = [first_leaves[k] if axis is None
               else np.stack([np.asarray(v) for v in columns[k]], axis=axis)
               for k, axis in enumerate(axes)]
    return unflatten(tree, stacked)


def loop_reference(f, *args, in_axes=0, out_axes=0, axis_size=None, **kwargs):
    """What ``vmap(f, in_axes, out_axes, axis_size=...)(*args, **kwargs)`` must return."""
    results = loop_examples(f, args, kwargs, in_axes, axis_size)
    return stack_examples(results, out_axes)


def assert_trees_close(actual, expected, rtol=1e-7, atol=0.0, check_dtype=True) -> None:
    """Assert two result trees have the same structure, shapes, dtypes and values."""
    actual_leaves, actual_tree = flatten(actual)
    expected_leaves, expected_tree = flatten(expected)
    assert actual_tree == expected_tree, f"structure {actual_tree} != {expected_tree}"
    for k, (a, e) in enumerate(zip(actual_leaves, expected_leaves)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"leaf {k}: shape {a.shape} != {e.shape}"
        if check_dtype:
            assert a.dtype == e.dtype, f"leaf {k}: dtype {a.dtype} != {e.dtype}"
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"leaf {k}")


def assert_vmap_matches_loop(f, *args, in_axes=0, out_axes=0, axis_size=None,
                             rtol=1e-7, atol=0.0, check_dtype=True, **kwargs) -> None:
    """Assert ``vmap(f)`` equals the plain Python loop over examples.

    Structure, shapes and values must match (within ``rtol`` / ``atol``), and
    with ``check_dtype=True`` every output's dtype too: pass
    ``check_dtype=False`` where Numba's typing legitimately differs from
    NumPy's (see the docs). On a value mismatch, the message names the first
    example that differs, with both values.
    """
    from .api import vmap

    actual = vmap(f, in_axes=in_axes, out_axes=out_axes, axis_size=axis_size)(*args, **kwargs)
    results = loop_examples(f, args, kwargs, in_axes, axis_size)
    expected = stack_examples(results, out_axes)
    try:
        assert_trees_close(actual, expected, rtol=rtol, atol=atol, check_dtype=check_dtype)
    except AssertionError:
        actual_examples = _unstack(actual, out_axes, len(results))
        for index, (got, want) in enumerate(zip(actual_examples, results)):
            try:
                assert_trees_close(got, want, rtol=rtol, atol=atol, check_dtype=False)
            except AssertionError as exc:
                raise AssertionError(
                    f"vmap({getattr(f, '__name__', f)}) differs from the Python loop at "
                    f"example {index}: vmap gave {got!r}, the loop gave {want!r} ({exc})"
                ) from None
        raise


def _unstack(stacked, out_axes, size):
    leaves, tree = flatten(stacked)
    axes = prefix_axes(normalize_spec(out_axes, "out_axes"), tree, "out_axes", "the result")
    return [unflatten(tree, [leaf if axis is None else np.take(leaf, k, axis=axis)
                             for leaf, axis in zip(leaves, axes)]) for k in range(size)]
