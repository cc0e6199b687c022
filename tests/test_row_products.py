"""Products ``x @ W`` with a matrix ``W``, fused as row accumulation (``Rules.rows``):
four terms per pass over the row, each element summed in ``k`` order from zero.

Values are compared with the plain Python loop (``numbavmap.testing``); the
vmapped functions are serial (``parallel=False``) and shared, to compile less.
"""

import numpy as np
import pytest

from numbavmap import vmap
from numbavmap.testing import assert_trees_close, loop_reference


def dense(x, w, b):
    return np.maximum(x @ w + b, 0.0)


def affine(x, w, b):
    return x @ w + b


def product(x, w):
    return x @ w


DENSE = vmap(dense, in_axes=(0, None, None), parallel=False)
DENSE_COLUMNS = vmap(dense, in_axes=(1, None, None), out_axes=1, parallel=False)
AFFINE = vmap(affine, in_axes=(0, None, None), parallel=False)
PRODUCT = vmap(product, in_axes=(0, None), parallel=False)
CLOSE = dict(rtol=1e-12, atol=1e-12)


def assert_matches_loop(vmapped, *args, **tolerance):
    """``vmapped`` is fused and gives the plain loop's values."""
    assert "\nbody: fused\n" in vmapped.explain(*args), vmapped.explain(*args)
    expected = loop_reference(vmapped.py_func, *args, in_axes=vmapped.in_axes,
                              out_axes=vmapped.out_axes)
    assert_trees_close(vmapped(*args), expected, **tolerance)


def layer(seed, batch, inner, outer, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, inner)).astype(dtype)
    return x, rng.normal(size=(inner, outer)).astype(dtype), rng.normal(size=outer).astype(dtype)


@pytest.mark.parametrize("batch, inner", [(7, 3), (9, 6), (13, 66)])
def test_a_dense_layer_matches_the_loop_whatever_the_contraction_length(batch, inner):
    assert_matches_loop(DENSE, *layer(inner, batch, inner, 5), **CLOSE)


def test_rows_mapped_over_axis_1_stack_along_axis_1():
    x, w, b = layer(1, 11, 7, 3)
    assert_matches_loop(DENSE_COLUMNS, np.asfortranarray(x.T), w, b, **CLOSE)


@pytest.mark.filterwarnings("ignore::numba.NumbaPerformanceWarning")
def test_strided_inputs():
    # Tracing compiles the unfused function, whose `@` warns on strided rows.
    x, w, b = layer(2, 10, 18, 12)
    assert_matches_loop(DENSE, x[::2, ::2], w[::2, ::3], b[::3], **CLOSE)


def test_float32_products_stay_float32():
    x, w, b = layer(3, 9, 10, 6, np.float32)
    assert AFFINE(x, w, b).dtype == np.float32
    assert_matches_loop(AFFINE, x, w, b, rtol=1e-5, atol=1e-5)


def test_nan_and_inf_propagate_as_in_the_loop():
    x = np.array([[np.nan, 1.0, 2.0, 3.0, 4.0],
                  [0.0, 1.0, 2.0, 3.0, 4.0],
                  [1.0, 1.0, 2.0, 3.0, np.inf],
                  [1.0, -np.inf, 2.0, 3.0, np.inf]])
    w = np.ones((5, 3))
    w[0, 1] = np.inf
    with np.errstate(invalid="ignore"):
        assert_matches_loop(PRODUCT, x, w, **CLOSE)
    assert np.isnan(PRODUCT(x, w)).tolist() == [[True] * 3, [False, True, False],
                                                [False] * 3, [True] * 3]


def test_per_example_matrices_accumulate_each_row():
    rng = np.random.default_rng(4)
    assert_matches_loop(PRODUCT, rng.normal(size=(6, 3, 9)), rng.normal(size=(9, 4)), **CLOSE)


def test_terms_add_one_after_another_in_k_order():
    # 1 + 1e16 rounds to 1e16: added in k order the first eight terms give 0,
    # grouped per pass (1 + (1e16 + 1 - 1e16 + 0)) they would give 1.
    x = np.array([[1.0, 0.0, 0.0, 0.0, 1e16, 1.0, -1e16, 0.0, 1.0]])
    expected = 0.0
    for term in x[0]:
        expected += term
    assert expected == 1.0
    np.testing.assert_array_equal(PRODUCT(x, np.ones((9, 2))), [[expected, expected]])


def test_the_kernel_adds_four_terms_per_pass_then_the_rest():
    source = PRODUCT.inspect_kernel(np.ones((2, 6)), np.ones((6, 3)))
    lines = [line.strip() for line in source.splitlines()]
    expected = [
        "product_0 = np.zeros((3,), np.float64)",
        "for j0 in range(0, 4, 4):",
        "factor_0 = x[i, j0]",
        "factor_1 = x[i, (j0 + 1)]",
        "factor_2 = x[i, (j0 + 2)]",
        "factor_3 = x[i, (j0 + 3)]",
        "for k_0 in range(3):",
        "product_0[k_0] = product_0[k_0] + (factor_0 * w[j0, k_0]) + "
        "(factor_1 * w[(j0 + 1), k_0]) + (factor_2 * w[(j0 + 2), k_0]) + "
        "(factor_3 * w[(j0 + 3), k_0])",
        "factor_4 = x[i, 4]",
        "factor_5 = x[i, 5]",
        "for k_1 in range(3):",
        "product_0[k_1] = product_0[k_1] + (factor_4 * w[4, k_1]) + (factor_5 * w[5, k_1])",
    ]
    start = lines.index(expected[0])
    assert lines[start:start + len(expected)] == expected, source


@pytest.mark.parametrize("columns, bound", [(3, "range(3)"), (32, "range(32)"),
                                            (16, "range(w.shape[1])")])
def test_the_column_loop_takes_a_literal_bound_but_where_llvm_leaves_it_scalar(columns, bound):
    source = PRODUCT.inspect_kernel(np.ones((2, 6)), np.ones((6, columns)))
    assert f"for k_0 in {bound}:" in source, source
