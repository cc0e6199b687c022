"""``vmap(f, target="cuda")``: the same results, axes, containers and errors as the CPU.

Run under Numba's CUDA simulator by ``tests/test_cuda_simulator.py`` (CI has
no GPU), or on an NVIDIA GPU with ``NUMBAVMAP_CUDA_TESTS=1 pytest tests/cuda``.
Sizes are tiny: the simulator runs every GPU thread as a Python thread.
"""

from collections import namedtuple

import numpy as np
import pytest
from numba import cuda

from numbavmap import CompileError, vmap
from numbavmap.targets.cuda import is_device_array

Pair = namedtuple("Pair", ["low", "high"])


def sum_of_squares(v):
    return np.sum(v ** 2)


def softmax(v):
    e = np.exp(v - np.max(v))
    return e / np.sum(e)


def scaled(v, scale):
    return v * scale


def escape_count(c):
    z = 0j
    count = 0
    while abs(z) <= 2.0 and count < 30:
        z = z * z + c
        count += 1
    return count


def stats(v):
    total = 0.0
    for k in range(v.shape[0]):
        total += v[k]
    return total, total / v.shape[0]


def first_over(v, limit):
    for k in range(v.shape[0]):
        if v[k] > limit:
            return k
    raise ValueError("no element over the limit")


def allocating(v):
    out = 0.0
    for k in range(v.shape[0]):
        out += v[k]
    w = np.zeros(3)
    return out + w[0]


def same_on_gpu(f, *args, keywords=None, **options):
    """``f`` on the GPU equals ``f`` on the CPU (values and dtype); returns the GPU result.

    ``keywords`` are the call's keyword arguments, ``options`` vmap's.
    """
    keywords = keywords or {}
    expected = vmap(f, **options)(*args, **keywords)
    result = vmap(f, target="cuda", **options)(*args, **keywords)
    for got, want in zip(*(r if isinstance(r, tuple) else (r,) for r in (result, expected))):
        assert isinstance(got, np.ndarray)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want)
    return result


def test_fused_sum_of_squares():
    v = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(same_on_gpu(sum_of_squares, v), [5.0, 50.0, 149.0, 302.0])
    report = vmap(sum_of_squares, target="cuda").explain(v)
    assert "body: fused" in report and "target: cuda" in report


def test_fused_bodies_that_store_values_on_the_cpu_recompute_them_on_the_device():
    rows = np.random.default_rng(0).normal(size=(3, 16))
    same_on_gpu(softmax, rows)
    same_on_gpu(sum_of_squares, np.random.default_rng(1).normal(size=(2, 300)))


def test_in_axes_out_axes_and_unmapped_scalars():
    v = np.arange(6, dtype=np.float32).reshape(3, 2)
    result = same_on_gpu(scaled, v, 2.0, in_axes=(1, None), out_axes=1)
    assert result.shape == (3, 2)
    np.testing.assert_allclose(result, v * 2.0)


def test_strided_and_fortran_inputs():
    v = np.asfortranarray(np.arange(24.0).reshape(6, 4))[::2, ::-1]
    same_on_gpu(sum_of_squares, v)


def test_data_dependent_while_loop():
    c = np.array([0j, 1 + 1j, 0.3 + 0.1j, -1 + 0j, 0.5 + 0.5j])
    counts = same_on_gpu(escape_count, c)
    assert counts[0] == 30 and counts[1] == 2


def test_tuple_output_with_out_axes():
    v = np.arange(8.0).reshape(2, 4)
    total, mean = same_on_gpu(stats, v, out_axes=(0, -1))
    np.testing.assert_allclose(total, [6.0, 22.0])
    np.testing.assert_allclose(mean, [1.5, 5.5])


def test_tuple_namedtuple_and_keyword_arguments():
    def spread(pair, scale):
        return (pair.high - pair.low) * scale[0]

    low = np.arange(3.0)
    pair = Pair(low, low ** 2)
    scale = np.array([[2.0], [3.0], [4.0]])
    result = same_on_gpu(spread, pair, keywords={"scale": scale})
    np.testing.assert_allclose(result, (low ** 2 - low) * scale[:, 0])

    def weighted(xs, w):
        return xs[0][0][1] * w + xs[1]

    xs = ((np.arange(4.0).reshape(2, 2),), np.array([1.0, 2.0]))
    same_on_gpu(weighted, xs, 3.0, in_axes=(((0,), 0), None))


def test_nested_vmap_runs_as_one_kernel():
    def dot(a, b):
        return np.sum(a * b)

    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(4, 3)
    inner = vmap(dot, in_axes=(None, 0))
    expected = vmap(inner, in_axes=(0, None))(a, b)
    result = vmap(inner, in_axes=(0, None), target="cuda")(a, b)
    np.testing.assert_allclose(result, expected)
    np.testing.assert_allclose(result, a @ b.T)


def test_out_axes_none_and_empty_batch():
    def with_constant(v, w):
        return np.sum(v), np.sum(w)

    v, w = np.arange(6.0).reshape(3, 2), np.arange(4.0)
    total, constant = vmap(with_constant, in_axes=(0, None), out_axes=(0, None),
                           target="cuda")(v, w)
    np.testing.assert_allclose(total, [1.0, 5.0, 9.0])
    assert constant == 6.0
    empty = vmap(sum_of_squares, target="cuda")(np.zeros((0, 3)))
    assert empty.shape == (0,) and empty.dtype == np.float64


def test_device_arrays_in_device_arrays_out():
    v = np.arange(12.0).reshape(4, 3)
    f = vmap(stats, in_axes=1, target="cuda")
    total, mean = f(cuda.to_device(v.T.copy()))
    assert is_device_array(total) and not isinstance(total, np.ndarray)
    np.testing.assert_allclose(total.copy_to_host(), v.sum(axis=1))
    np.testing.assert_allclose(mean.copy_to_host(), v.mean(axis=1))
    mixed = vmap(scaled, in_axes=(0, None), target="cuda")(cuda.to_device(v), 0.5)
    assert is_device_array(mixed)
    np.testing.assert_allclose(mixed.copy_to_host(), v * 0.5)


def test_errors_name_the_argument_shape_and_axis():
    f = vmap(scaled, in_axes=(2, None), target="cuda")
    with pytest.raises(ValueError, match=r"argument v of shape \(3, 2\).*axis"):
        f(np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match="inconsistent sizes"):
        vmap(scaled, target="cuda")(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="boundscheck"):
        vmap(scaled, boundscheck=True, target="cuda")(np.zeros(3), np.zeros(3))


def test_exception_in_one_example_names_the_first_failing_example():
    v = np.array([[5.0, 1.0], [0.0, 0.0], [0.0, 7.0], [0.0, 0.0]])
    f = vmap(first_over, in_axes=(0, None), target="cuda")
    np.testing.assert_array_equal(f(v[[0, 2]], 2.0), [0, 1])
    with pytest.raises(ValueError, match=r"no element over the limit \(in vmap example 1\)"):
        f(v, 2.0)
    with pytest.raises(ValueError, match=r"in vmap example 1"):
        f(cuda.to_device(v), 2.0)


def test_allocating_body_that_is_not_fused_is_a_compile_error():
    line = allocating.__code__.co_firstlineno + 4
    message = rf"test_cuda_target.py:{line}\) makes a new array.*cannot allocate"
    with pytest.raises(CompileError, match=message):
        vmap(allocating, target="cuda")(np.zeros((2, 3)))
