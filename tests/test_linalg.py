"""``np.linalg.solve``, ``inv`` and ``det`` fused under ``fastmath=True``
(``numbavmap.lower.linalg``), against ``np.linalg`` example by example.

Fused values are not LAPACK's bits: each is compared with the float64 value
of ``np.linalg`` within a bound scaled by the matrix's condition number.
One vmapped function computes all four results, so that each size and
dtype compiles once.
"""

import itertools
from fractions import Fraction

import numpy as np
import pytest
from numba import njit

from numbavmap import vmap


def linalg_all(A, b, B):
    return np.linalg.solve(A, b), np.linalg.solve(A, B), np.linalg.inv(A), np.linalg.det(A)


def solve(A, b):
    return np.linalg.solve(A, b)


def det(A):
    return np.linalg.det(A)


FUSED = vmap(linalg_all, fastmath=True, parallel=False)
SOLVE_ONE_MATRIX = vmap(solve, in_axes=(None, 0), fastmath=True, parallel=False)
SOLVE_ONE_VECTOR = vmap(solve, in_axes=(0, None), fastmath=True, parallel=False)
DET = vmap(det, fastmath=True, parallel=False)
#: Error bound in units of eps * n * cond(A) (Wilkinson's bound for partial pivoting,
#: with room: measured errors stay below 1 here).
BOUND = 4.0


def well_conditioned(n, count, dtype, seed):
    """``count`` random ``n x n`` matrices of condition number below 50."""
    rng = np.random.default_rng(seed)
    matrices = rng.normal(size=(8 * count, n, n))
    matrices = matrices[np.linalg.cond(matrices) < 50][:count]
    assert len(matrices) == count
    return matrices.astype(dtype)


def reference(A, b, B):
    """``linalg_all`` in float64 by NumPy, example by example (a plain loop),
    with each determinant exact (NumPy's is ``exp`` of a sum of logarithms)."""
    results = [linalg_all(*(x.astype(np.float64) for x in example))
               for example in zip(A, b, B)]
    solutions = [np.stack([result[k] for result in results]) for k in range(3)]
    return [*solutions, np.array([exact_det(matrix) for matrix in A])]


def exact_det(matrix) -> float:
    """The determinant of ``matrix``'s values, by Leibniz's formula in fractions."""
    n = len(matrix)
    total = Fraction(0)
    for permutation in itertools.permutations(range(n)):
        inversions = sum(p > q for p, q in itertools.combinations(permutation, 2))
        term = Fraction(-1 if inversions % 2 else 1)
        for row, column in enumerate(permutation):
            term *= Fraction(float(matrix[row, column]))
        total += term
    return float(total)


def assert_close(got, want, A, dtype):
    """``got`` within ``BOUND * eps * n * cond(A) * max|want|`` of ``want``, per example."""
    n = A.shape[-1]
    cond = np.linalg.cond(A.astype(np.float64))
    scale = np.abs(want).reshape(len(A), -1).max(axis=1)
    error = np.abs(got - want).reshape(len(A), -1).max(axis=1)
    assert np.all(error <= BOUND * np.finfo(dtype).eps * n * cond * scale), error / scale


#: Every size in float64; float32, the same code in another type, at the largest.
SIZES_AND_TYPES = [(1, np.float64), (2, np.float64), (3, np.float64), (4, np.float64),
                   (4, np.float32)]


@pytest.mark.parametrize(("n", "dtype"), SIZES_AND_TYPES)
def test_solve_inv_det_match_lapack_within_the_condition_bound(n, dtype):
    A = well_conditioned(n, 200, dtype, seed=n)
    rng = np.random.default_rng(10 + n)
    b = rng.normal(size=(200, n)).astype(dtype)
    B = rng.normal(size=(200, n, 2)).astype(dtype)
    assert FUSED.explain(A, b, B).splitlines()[1] == "body: fused"
    got = FUSED(A, b, B)
    want = reference(A, b, B)
    assert [x.dtype for x in got] == [np.dtype(dtype)] * 3 + [np.dtype(np.float64)]
    for k in range(3):
        assert_close(got[k], want[k], A, dtype)
    assert_close(got[3][:, None], want[3][:, None], A, dtype)


PERMUTATION = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0],
                        [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])


def test_zero_leading_entries_are_pivoted_away_exactly():
    """A permutation matrix needs a row swap at every step; its elimination
    subtracts only zeros, so every result is exact, the sign of det too."""
    scaled = PERMUTATION * np.array([2.0, -4.0, 0.5, 8.0])
    A = np.stack([PERMUTATION, scaled, PERMUTATION[::-1]])
    b = np.arange(12.0).reshape(3, 4) - 5.0
    B = np.arange(24.0).reshape(3, 4, 2)
    got = FUSED(A, b, B)
    want = reference(A, b, B)
    for k in range(3):
        assert np.array_equal(got[k], want[k]), k
    assert got[3].tolist() == [-1.0, 32.0, -1.0]  # a 4-cycle, and a product of 2 swaps


def test_zero_leading_entry_in_a_general_matrix():
    A = np.array([[[0.0, 2.0, 1.0], [3.0, 1.0, -1.0], [1.0, -1.0, 4.0]]])
    b, B = np.ones((1, 3)), np.ones((1, 3, 2))
    for got, want in zip(FUSED(A, b, B), reference(A, b, B)):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


#: Exactly singular: the middle column is zero, so is the second pivot in any rounding.
SINGULAR = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 4.0], [5.0, 0.0, 7.0]])


def test_singular_matrix_raises_lapacks_error_with_its_index():
    A = well_conditioned(3, 4, np.float64, seed=5)
    A[2] = SINGULAR
    b, B = np.ones((4, 3)), np.ones((4, 3, 2))
    assert "return RAISED" in FUSED.inspect_kernel(A, b, B)
    with pytest.raises(np.linalg.LinAlgError, match="singular.*example 2"):
        FUSED(A, b, B)
    with pytest.raises(np.linalg.LinAlgError, match="singular.*example 2"):
        FUSED(A.astype(np.float32), b.astype(np.float32), B.astype(np.float32))


def test_an_example_with_a_subnormal_pivot_gets_the_unfused_result():
    """Fused code hands such an example over (RAISED); run again unfused, it
    gets LAPACK's values, written into every output, and the call succeeds."""
    A = well_conditioned(3, 4, np.float64, seed=5)
    A[1] = np.diag([1e-310, 2.0, 4.0])
    b, B = np.full((4, 3), 1e-300), np.ones((4, 3, 2))
    got = FUSED(A, b, B)
    want = njit(linalg_all, fastmath=True)(A[1], b[1], B[1])  # LAPACK's, unfused
    assert got[0][1, 0] == 1e-300 / 1e-310
    for k in range(4):
        assert np.array_equal(got[k][1], want[k], equal_nan=True), k


def test_det_of_a_singular_matrix_is_zero():
    A = np.stack([SINGULAR, PERMUTATION[:3, :3], np.zeros((3, 3))])
    got = DET(A)
    assert got.tolist() == [0.0, np.linalg.det(PERMUTATION[:3, :3]), 0.0]
    assert "RAISED" not in DET.inspect_kernel(A)  # det cannot fail: no status


def test_unmapped_matrix_or_right_hand_side():
    A = well_conditioned(3, 50, np.float64, seed=7)
    b = np.random.default_rng(8).normal(size=(50, 3))
    got = SOLVE_ONE_MATRIX(A[0], b)
    np.testing.assert_allclose(got, np.stack([np.linalg.solve(A[0], x) for x in b]),
                               rtol=1e-12, atol=1e-12)
    got = SOLVE_ONE_VECTOR(A, b[0])
    np.testing.assert_allclose(got, np.stack([np.linalg.solve(a, b[0]) for a in A]),
                               rtol=1e-12, atol=1e-12)
    assert "lu00_0 = A[0, 0]" in SOLVE_ONE_MATRIX.inspect_kernel(A[0], b)


def body(function, *args, **options):
    """The ``body:`` line of ``vmap(function, **options).explain(*args)``."""
    report = vmap(function, **options).explain(*args)
    return next(line for line in report.splitlines() if line.startswith("body:"))


def test_explain_says_fastmath_would_fuse_it():
    A, b = np.eye(3)[None], np.ones((1, 3))
    assert "np.linalg.det calls LAPACK" in body(det, A)
    assert "fastmath=True fuses it" in body(det, A)
    assert "matrix right-hand side calls LAPACK" in body(solve, A, b[..., None])
    assert body(solve, A, b[..., None], fastmath=True) == "body: fused"


@pytest.mark.parametrize("A, reason", [
    (np.eye(3, dtype=np.complex128)[None], "np.linalg.det of complex128 (fused for float32 "
                                           "and float64)"),
    (np.eye(5)[None], "np.linalg.det of a 5x5 matrix (fused up to 4x4)"),
])
def test_explain_says_why_a_matrix_is_not_fused(A, reason):
    assert reason in body(det, A, fastmath=True)
    assert "fastmath=True fuses it" not in body(det, A)


def inverse_used_further(A, v):
    X = np.linalg.inv(A)
    return np.sum(X), X[1:, ::-1] * 2.0, X.T @ v, np.sum(X, axis=0)


def test_results_held_in_scalars_are_indexed_sliced_and_reduced():
    """The inverse's entries are scalar variables: literal indices name them, and
    a pairwise sum's computed index selects among them."""
    f = vmap(inverse_used_further, fastmath=True, parallel=False)
    A = well_conditioned(3, 20, np.float64, seed=9)
    v = np.random.default_rng(9).normal(size=(20, 3))
    source = f.inspect_kernel(A, v)
    assert "out_1[i, 0, 0] = (x12_0 * 2.0)" in source  # X[1:, ::-1][0, 0] is X[1, 2]
    got = f(A, v)
    for k, want in enumerate(zip(*(inverse_used_further(*example) for example in zip(A, v)))):
        np.testing.assert_allclose(got[k], np.stack(want), rtol=1e-12, atol=1e-13)
