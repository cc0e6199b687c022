"""``VmappedFunction.explain``: fused or not and why, the key, target and parallel decision."""

import inspect
import linecache

import numpy as np

from numbavmap import vmap


def sum_of_squares(v):
    return np.sum(v * v)


def first_positive(v):
    total = np.sum(v)
    while total > 0:
        total -= 1.0
    return total


def test_fused_function_is_reported_fused_with_its_key_and_loop():
    f = vmap(sum_of_squares)
    report = f.explain(np.ones((4, 3), np.float32))
    assert "body: fused" in report
    assert "v: float32, per-example shape (3,), C layout, mapped over axis 0" in report
    assert "target: cpu" in report
    assert "loop: serial (parallel='auto': 16 work units < 8192)" in report
    assert "fused loops per example" in f.inspect_kernel(np.ones((4, 3), np.float32))


def test_unfused_function_names_the_construct_and_its_line():
    lines, first = inspect.getsourcelines(first_positive)
    while_line = first + next(k for k, line in enumerate(lines) if "while" in line)
    report = vmap(first_positive, in_axes=(0,)).explain(np.ones((40_000, 3)))
    assert "body: not fused: While statement `while total > 0:`" in report
    assert f"{__file__}:{while_line})" in report
    assert "loop: parallel (prange) (parallel='auto': 160000 work units >= 8192)" in report


def test_function_without_source_says_so():
    namespace = {}
    exec("def scaled(v, s):\n    return v * s\n", namespace)  # no file, no linecache entry
    report = vmap(namespace["scaled"], in_axes=(0, None), parallel=False).explain(
        np.ones((2, 3)), 2.0)
    assert "not fused: no source code to read" in report
    assert "s: Python float, unmapped" in report
    assert "loop: serial (parallel=False)" in report


#: Two lambdas on one line, and one inside another: each is found by its code's positions.
PAIR = (lambda v, s: v * s, lambda v, s: v - s)
NESTED = lambda v: (lambda w: np.sum(w * w))(v) + np.max(v)  # noqa: E731


def test_lambdas_are_fused_each_from_its_own_source():
    x = np.arange(6.0).reshape(2, 3)
    for f, expected in zip(PAIR, (x * 2.0, x - 2.0)):
        vmapped = vmap(f, in_axes=(0, None), parallel=False)
        assert "body: fused" in vmapped.explain(x, 2.0)
        np.testing.assert_array_equal(vmapped(x, 2.0), expected)
    assert "(v[i, j0] - s)" in vmap(PAIR[1], in_axes=(0, None)).inspect_kernel(x, 2.0)
    report = vmap(NESTED, parallel=False).explain(x)
    assert "not fused: call lambda w: np.sum(w * w)" in report  # the outer lambda's body


def test_a_lambda_whose_file_changed_is_not_fused():
    text = "scaled = lambda v: v * 2.0\n"
    filename = "<lambda file that changes>"
    linecache.cache[filename] = (len(text), None, [text], filename)
    namespace = {}
    exec(compile(text, filename, "exec"), namespace)
    x = np.ones((2, 3))
    assert "body: fused" in vmap(namespace["scaled"]).explain(x)
    linecache.cache[filename] = (len(text), None, ["scaled = lambda v: v * 3.0\n"], filename)
    report = vmap(namespace["scaled"]).explain(x)
    assert "not fused: no source code to read" in report
    np.testing.assert_array_equal(vmap(namespace["scaled"])(x), x * 2.0)


def test_explain_compiles_no_kernel():
    f = vmap(sum_of_squares, parallel=False)
    x = np.ones((4, 3))
    f.explain(x)
    explained = f.cache_info()
    f(x)
    called = f.cache_info()
    assert explained.traces == called.traces == 1
    assert called.compilations > explained.compilations


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def running_total(x):
    return np.cumsum(x)


def test_device_bodies_are_fused_without_scratch_arrays():
    # Needs no GPU: the body is traced and typed on the CPU, the source printed.
    x, long_rows = np.ones((3, 16)), np.ones((3, 300))
    assert "np.empty" in vmap(softmax).inspect_kernel(x)  # on the CPU, e is stored once
    assert "np.empty" in vmap(sum_of_squares).inspect_kernel(long_rows)  # the pairwise stack
    for f, batch in [(softmax, x), (sum_of_squares, long_rows)]:
        device = vmap(f, target="cuda")
        assert "body: fused" in device.explain(batch)
        source = device.inspect_kernel(batch)
        assert "np.empty" not in source and "np.zeros" not in source
    report = vmap(running_total, target="cuda").explain(x)
    assert "not fused: a temporary array too large to store per example, or on a device" \
        in report
