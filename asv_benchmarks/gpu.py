"""The GPU section of the comparison: W1 (both shapes of issue 13) and W5, float32.

Implementations, each on inputs already on the device (no host copies are
timed) and synchronised after every call:

* ``numbavmap``: ``vmap(f, target="cuda")`` of the same per-example function;
* ``hand_cuda``: a hand-written numba-cuda kernel, one thread per example;
* ``jax``: ``jax.jit(jax.vmap(f))`` on JAX's GPU backend.

Without a CUDA GPU (or under the CUDA simulator) :func:`unavailable` gives
the reason and ``compare`` prints it in place of the table. The simulator
tests run :func:`prepare` at ``"tiny"`` sizes to check every numba-cuda
implementation against NumPy.
"""

from __future__ import annotations

import os
import time

import numpy as np

from asv_benchmarks import workloads as wl

#: Case -> (per-example function name, full size, tiny size).
CASES = {
    "W1 sum of squares (10_000_000, 3)": ("sum_of_squares", (10_000_000, 3), (70, 3)),
    "W1 sum of squares (100_000, 1_000)": ("sum_of_squares", (100_000, 1_000), (40, 9)),
    "W5 escape counts 4096 x 4096": ("escape_count", 4096, 8),
}
IMPLEMENTATIONS = ("numbavmap", "hand_cuda", "jax")


def sum_of_squares(v):
    return np.sum(v**2)


def escape_count(c):
    z = np.complex64(0)
    n = 0
    while n < wl.MAX_ITER and z.real * z.real + z.imag * z.imag <= np.float32(4.0):
        z = z * z + c
        n += 1
    return n


def unavailable() -> str | None:
    """Why the GPU section cannot run here, or None."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "the CUDA simulator is on (no real GPU to time)"
    try:
        from numba import cuda
    except ImportError:
        return "numba-cuda is not installed (pip install 'numbavmap[cuda]')"
    if not cuda.is_available():
        return "no CUDA GPU is available"
    return None


def host_inputs(case: str, size: str = "full") -> np.ndarray:
    """The case's float32 input on the host."""
    function, full, tiny = CASES[case]
    shape = full if size == "full" else tiny
    if function == "escape_count":
        return wl.complex_grid(shape)[0].astype(np.complex64)
    return np.random.default_rng(wl.SEED).standard_normal(shape, dtype=np.float32)


def reference(case: str, size: str = "full") -> np.ndarray:
    """NumPy's answer: row sums of squares, or a Python loop of escape counts."""
    x = host_inputs(case, size)
    if CASES[case][0] == "escape_count":
        return np.array([escape_count(c) for c in x])
    return np.sum(x.astype(np.float64) ** 2, axis=1)


def _hand_cuda(function: str):
    from numba import cuda

    from asv_benchmarks import gpu_kernels

    kernel, dtype = gpu_kernels.KERNELS[function]

    def run(x):
        out = cuda.device_array(x.shape[0], dtype)
        kernel[-(-x.shape[0] // 128), 128](x, out)
        return out

    return run


def _numbavmap(function: str):
    from numbavmap import vmap

    return vmap({"sum_of_squares": sum_of_squares, "escape_count": escape_count}[function],
                target="cuda")


def _jax(function: str):
    try:
        import jax
    except ImportError as exc:
        raise wl.Unavailable("jax is not installed") from exc
    if not any(device.platform == "gpu" for device in jax.devices()):
        raise wl.Unavailable("jax has no GPU backend (pip install 'jax[cuda12]')")
    jnp, lax = jax.numpy, jax.lax

    def escape(c):
        def bounded(state):
            z, n = state
            return (n < wl.MAX_ITER) & (z.real * z.real + z.imag * z.imag <= 4.0)

        def step(state):
            z, n = state
            return z * z + c, n + 1

        return lax.while_loop(bounded, step, (jnp.zeros((), c.dtype), 0))[1]

    per_example = {"sum_of_squares": lambda v: jnp.sum(v**2), "escape_count": escape}
    return jax.jit(jax.vmap(per_example[function])), jax.device_put


def prepare(case: str, name: str, size: str = "full") -> wl.Prepared:
    """Implementation ``name`` of ``case``, run once on device inputs and checked."""
    from numba import cuda

    function = CASES[case][0]
    x = host_inputs(case, size)
    if name == "jax":
        fn, put = _jax(function)
        device_x = put(x)

        def run():
            return fn(device_x).block_until_ready()

        result = np.asarray(run())
    else:
        fn = _numbavmap(function) if name == "numbavmap" else _hand_cuda(function)
        device_x = cuda.to_device(x)

        def run():
            out = fn(device_x)
            cuda.synchronize()
            return out

        result = run().copy_to_host()
    np.testing.assert_allclose(result, reference(case, size), rtol=1e-4, err_msg=name)
    return wl.Prepared(case, name, run)


def run(size: str = "full", repeat: int = 7, sample_time: float = 0.1) -> dict:
    """``{case: {name: Timing or reason}}`` for every case and implementation."""
    times = {}
    for case in CASES:
        row = {}
        for name in IMPLEMENTATIONS:
            try:
                start = time.perf_counter()
                prepared = prepare(case, name, size)
                first = time.perf_counter() - start
            except wl.Unavailable as exc:
                row[name] = f"n/a ({exc})"
                continue
            row[name] = wl.measure(prepared, repeat=repeat, sample_time=sample_time)
            if name == "numbavmap":
                row["numbavmap first call"] = first
        times[case] = row
    return times


def markdown(times: dict | None, reason: str | None = None) -> str:
    """The GPU table (times relative to ``hand_cuda`` and ``jax``), or why it was skipped."""
    if times is None:
        return f"GPU section (target='cuda'): skipped, {reason}.\n"
    lines = ["| GPU case (float32) | implementation | median | vs hand_cuda | vs jax |",
             "| --- | --- | ---: | ---: | ---: |"]
    for case, row in times.items():
        for name, timing in row.items():
            cells = [f"{timing.median * 1e3:.3g} ms" if isinstance(timing, wl.Timing) else
                     f"{timing:.3g} s" if isinstance(timing, float) else timing]
            for base in ("hand_cuda", "jax"):
                other = row.get(base)
                both = isinstance(timing, wl.Timing) and isinstance(other, wl.Timing)
                cells.append(f"{timing.median / other.median:.2g}x" if both else "")
            lines.append(f"| {case} | {name} | {' | '.join(cells)} |")
            case = ""
    return "\n".join(lines) + "\n"
