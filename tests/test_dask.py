"""Dask arrays in, Dask arrays out: lazily, on every Dask scheduler.

The same vmapped functions run on the synchronous, threaded and processes
schedulers and on a ``dask.distributed`` cluster of two worker processes,
against the plain Python loop (``numbavmap.testing``). The functions are
shared at module level: each process compiles each of them once.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from numbavmap import vmap  # noqa: E402
from numbavmap.targets.dask_hook import rebuilt_cache_info  # noqa: E402
from numbavmap.testing import assert_trees_close, loop_reference  # noqa: E402

SCHEDULERS = ["sync", "threads", "processes", "distributed"]


def moments(v, c):
    return v - c, np.sum(v * c), c.sum() * 2.0


MOMENTS_AXES = dict(in_axes=(1, None), out_axes=(1, 0, None))
vmoments = vmap(moments, **MOMENTS_AXES)


def dist(a, b):
    return np.sqrt(np.sum((a - b) ** 2))


vpairwise = vmap(vmap(dist, in_axes=(None, 0)), in_axes=(0, None))


def scaled(v, c):
    return v * c[0] + c[1]


vscaled = vmap(scaled, in_axes=(0, None))


def checked_sqrt(v):
    if v[0] < 0:
        raise ValueError("negative first entry")
    return np.sqrt(v)


vchecked = vmap(checked_sqrt)

X = np.random.default_rng(0).standard_normal((3, 40))
C = np.array([0.5, -1.0, 2.0])
#: Blocks of the mapped axis (axis 1), one of them empty.
X_CHUNKS = ((3,), (7, 0, 13, 20))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, host="127.0.0.1")
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(params=SCHEDULERS)
def scheduler(request):
    if request.param == "distributed":
        return request.getfixturevalue("client")
    return request.param


def refuse(*args, **kwargs):
    raise AssertionError("the vmapped call computed something")


def compute(values, scheduler):
    return dask.compute(*values, scheduler=scheduler)


def test_tuple_outputs_out_axes_mapped_axis_1_unmapped_array_empty_chunk(scheduler):
    x = da.from_array(X, chunks=X_CHUNKS)
    with dask.config.set(scheduler=refuse):
        lazy = vmoments(x, C)
    assert [type(out) for out in lazy] == [da.Array] * 3
    expected = loop_reference(moments, X, C, **MOMENTS_AXES)
    assert [out.shape for out in lazy] == [np.shape(e) for e in expected]
    assert [out.dtype for out in lazy] == [np.asarray(e).dtype for e in expected]
    assert lazy[0].chunks == ((3,), X_CHUNKS[1])
    assert lazy[1].chunks == (X_CHUNKS[1],)
    assert_trees_close(compute(lazy, scheduler), expected)


def test_nested_vmap(scheduler):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((10, 3)), rng.standard_normal((5, 3))
    with dask.config.set(scheduler=refuse):
        lazy = vpairwise(da.from_array(a, chunks=(4, 3)), b)
    assert lazy.chunks == ((4, 4, 2), (5,))
    (result,) = compute([lazy], scheduler)
    np.testing.assert_allclose(result, np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)))


def test_numpy_mapped_and_dask_unmapped_mix(scheduler):
    v = np.arange(12.0).reshape(6, 2)
    c = da.from_array(np.array([2.0, 1.0]), chunks=1)  # two blocks: one key for the tasks
    with dask.config.set(scheduler=refuse):
        lazy = vscaled(v, c)
        mapped_both = vscaled(da.from_array(v, chunks=(2, 2)), c)
    assert lazy.chunks == ((6,), (2,)) and mapped_both.chunks == ((2, 2, 2), (2,))
    expected = loop_reference(scaled, v, np.array([2.0, 1.0]), in_axes=(0, None))
    for result in compute([lazy, mapped_both], scheduler):
        assert_trees_close(result, expected)


@pytest.mark.parametrize("scheduler", ["sync", "distributed"], indirect=True)
def test_failing_example_has_its_index_in_the_whole_batch(scheduler):
    v = np.ones((50, 2))
    v[37, 0] = -1.0
    lazy = vchecked(da.from_array(v, chunks=(10, 2)))
    with pytest.raises(ValueError, match=r"negative first entry \(in vmap example 37\)"):
        compute([lazy], scheduler)


def test_python_body_traces_once_on_the_client_for_100_blocks(capsys):
    def noisy(v):
        print("tracing noisy")
        return np.sum(v * v)

    f = vmap(noisy)
    v = np.random.default_rng(2).standard_normal((1000, 3))
    with dask.config.set(scheduler=refuse):
        lazy = f(da.from_array(v, chunks=(10, 3)))
    assert lazy.numblocks == (100,)
    assert capsys.readouterr().out.count("tracing noisy") == 1
    assert f.cache_info().traces == 1
    for scheduler in ("sync", "threads"):
        np.testing.assert_allclose(lazy.compute(scheduler=scheduler), (v * v).sum(1))
    assert capsys.readouterr().out.count("tracing noisy") == 0
    assert f.cache_info().traces == 1


def per_worker(v):
    return v.max() - v.min()


def test_each_worker_traces_and_compiles_once(client):
    f = vmap(per_worker)
    v = np.random.default_rng(3).standard_normal((200, 4))
    lazy = f(da.from_array(v, chunks=(10, 4)))
    np.testing.assert_allclose(lazy.compute(scheduler=client), v.max(1) - v.min(1))
    infos = [info for worker in client.run(rebuilt_cache_info).values()
             for name, info in worker.items() if name.startswith("per_worker-")]
    print("per-worker (traces, compilations, hits, currsize):", infos)
    assert 1 <= len(infos) <= 2
    assert all(traces == 1 and compilations <= 2 for traces, compilations, _, _ in infos)
    # every block is a call of the one function a worker rebuilt: its first call
    # traced, every later call was a cache hit
    assert sum(traces + hits for traces, _, hits, _ in infos) == lazy.numblocks[0]


def test_contract_errors_are_raised_at_call_time():
    x = da.from_array(X, chunks=X_CHUNKS)
    with dask.config.set(scheduler=refuse):
        with pytest.raises(ValueError, match=r"in_axes=2 is out of range for argument v of "
                                             r"shape \(3, 40\)"):
            vmap(moments, in_axes=(2, None))(x, C)
        with pytest.raises(ValueError, match="inconsistent sizes"):
            vmap(scaled)(da.from_array(np.ones((6, 2)), chunks=3), np.ones((5, 2)))
        with pytest.raises(TypeError, match="argument v is an array of dtype object"):
            vchecked(da.from_array(np.empty((4, 2), object), chunks=2))


def test_other_axes_split_need_a_rechunk_or_the_opt_in():
    v = np.arange(24.0).reshape(6, 4)
    split = da.from_array(v, chunks=(3, 2))
    with pytest.raises(ValueError, match=r"argument v of shape \(6, 4\) has 2 chunks \(2, 2\) "
                                         r"along axis 1.*v\.rechunk\(\{1: -1\}\).*"
                                         r"numbavmap\.allow_rechunk"):
        vchecked(split)
    with dask.config.set({"numbavmap.allow_rechunk": True}):
        lazy = vchecked(split)
    assert lazy.chunks == ((3, 3), (4,))
    np.testing.assert_allclose(lazy.compute(scheduler="sync"), np.sqrt(v))


def test_mapped_arguments_with_different_chunks_are_aligned():
    v = np.arange(12.0).reshape(6, 2)
    w = v + 1
    lazy = vmap(dist)(da.from_array(v, chunks=(4, 2)), da.from_array(w, chunks=(3, 2)))
    assert lazy.chunks == ((3, 1, 2),)
    np.testing.assert_allclose(lazy.compute(scheduler="sync"), np.full(6, np.sqrt(2.0)))


def test_out_axes_none_must_agree_across_blocks():
    def leaky(v):
        return v[0], v[0] * 0.0 + np.floor(v[0] / 5.0)

    f = vmap(leaky, out_axes=(0, None))
    lazy = f(da.from_array(np.arange(10.0)[:, None], chunks=(5, 1)))
    with pytest.raises(ValueError, match="out_axes=None for output.1., but it depends on the "
                                         "mapped inputs: example 5 returned a different"):
        lazy[1].compute(scheduler="sync")


def test_graph_names_and_tokens_are_deterministic():
    x = da.from_array(X, chunks=X_CHUNKS)
    assert vmoments(x, C)[0].name == vmoments(x, C)[0].name
    tokenize = dask.base.tokenize
    assert tokenize(vmap(moments, **MOMENTS_AXES)) == tokenize(vmoments)
    assert tokenize(vmap(moments, in_axes=(0, None))) != tokenize(vmoments)
    assert tokenize(vmap(moments, **MOMENTS_AXES, fastmath=True)) != tokenize(vmoments)


def test_pickles_as_function_and_options_one_object_per_process():
    def closure_factory(scale):
        def body(v):
            return v * scale
        return vmap(body, in_axes=0, parallel=False)

    f = closure_factory(3.0)
    first = cloudpickle.loads(cloudpickle.dumps(f))
    second = cloudpickle.loads(cloudpickle.dumps(f))
    assert first is second and first is not f
    assert (first.in_axes, first.options.parallel) == (0, False)
    np.testing.assert_allclose(first(np.ones((2, 2))), np.full((2, 2), 3.0))


def test_nothing_imports_dask_without_a_dask_array():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from numbavmap import vmap
        assert vmap(lambda v: v * 2.0)(np.ones((3, 2))).shape == (3, 2)
        assert not [name for name in sys.modules if name.split(".")[0] == "dask"]
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
