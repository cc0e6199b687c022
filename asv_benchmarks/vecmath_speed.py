"""Transcendental-heavy bodies: numbavmap by default, with ``fastmath=True`` and JAX.

Run ``python -m asv_benchmarks.vecmath_speed [rounds]`` for the table of
docs/user-guide/accuracy.md: softmax over (50,000, 64), logsumexp, sigmoid and
tanh over (200,000, 64), float64. Each round times every implementation once,
in turn (interleaved), and the table shows medians. JAX runs
``jax.jit(jax.vmap(f))`` on inputs already converted to JAX arrays, with x64
enabled, until ``block_until_ready``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from numbavmap import vmap


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def tanh(x):
    return np.tanh(x)


#: Name -> (per-example function, batch shape).
CASES = {"softmax": (softmax, (50_000, 64)), "logsumexp": (logsumexp, (200_000, 64)),
         "sigmoid": (sigmoid, (200_000, 64)), "tanh": (tanh, (200_000, 64))}


def _jax_version(f):
    """``f`` written with ``jax.numpy``: the same source, ``np`` bound to ``jnp``."""
    import jax.numpy as jnp
    return type(f)(f.__code__, {**f.__globals__, "np": jnp}, f.__name__)


def _implementations(f, x) -> dict:
    """Implementation name -> (callable, its argument): numbavmap twice, JAX (x64)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    jitted = jax.jit(jax.vmap(_jax_version(f)))
    return {"default": (vmap(f), x), "fastmath": (vmap(f, fastmath=True), x),
            "jax": (lambda a: jitted(a).block_until_ready(), jax.numpy.asarray(x))}


def measure(rounds: int, scale: float = 1.0) -> dict:
    """Case -> implementation -> median seconds, on batches ``scale`` times as long."""
    rng = np.random.default_rng(0)
    medians = {}
    for name, (f, (n, size)) in CASES.items():
        runs = _implementations(f, rng.normal(size=(max(1, int(n * scale)), size)))
        for run, arg in runs.values():
            run(arg)
        times = {key: [] for key in runs}
        for _ in range(rounds):
            for key, (run, arg) in runs.items():
                start = time.perf_counter()
                run(arg)
                times[key].append(time.perf_counter() - start)
        medians[name] = {key: float(np.median(t)) for key, t in times.items()}
    return medians


def table(medians: dict) -> str:
    """A Markdown table of the medians in ms, with the ratios to JAX."""
    rows = ["| body | shape | default | fastmath=True | JAX | default / JAX | fastmath / JAX |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, m in medians.items():
        rows.append(f"| {name} | {CASES[name][1]} | {m['default'] * 1e3:.1f} ms | "
                    f"{m['fastmath'] * 1e3:.1f} ms | {m['jax'] * 1e3:.1f} ms | "
                    f"{m['default'] / m['jax']:.2f} | {m['fastmath'] / m['jax']:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 21)))
