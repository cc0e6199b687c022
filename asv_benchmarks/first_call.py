"""Time to first result in a fresh process: numbavmap against a hand kernel and JAX.

    python -m asv_benchmarks.first_call [--repeat N]

Each measurement is one new Python process that starts Numba (a trivial
``@njit`` call, about 0.3 s, not counted), builds one implementation and
times its first call on the workload's batch: trace, type, compile (or load)
and one run. ``cold`` starts from an empty ``NUMBA_CACHE_DIR``; ``warm``
runs again on the cache the cold run left (numbavmap and the hand kernel
with ``cache=True``). The hand kernel is the ``@njit(parallel=True)``
``prange`` loop a user would write, its per-example work as scalar loops;
JAX is ``jax.jit(jax.vmap(f))`` (its first call traces and compiles; skipped
when jax is not installed). Workloads: W1 (``np.sum(v**2)``), W5 (a
``while`` loop per example), and a realistic one, R1 (``v / sqrt(sum(v*v))``
on rows of 64).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

#: Per-example functions and their inputs; the hand kernels below compute the same.
FUNCTIONS = """
import numpy as np

def sum_of_squares(v):
    return np.sum(v ** 2)

def escape_count(c):
    z = 0j
    n = 0
    while n < 256 and z.real * z.real + z.imag * z.imag <= 4.0:
        z = z * z + c
        n += 1
    return n

def normalize(v):
    return v / np.sqrt(np.sum(v * v))

def batch(key):
    rng = np.random.default_rng(0)
    if key == "W1":
        return rng.normal(size=(100_000, 3))
    if key == "W5":
        side = np.linspace(-2.0, 1.0, 256)
        return (side[None, :] + 1j * np.linspace(-1.5, 1.5, 256)[:, None]).ravel()
    return rng.normal(size=(20_000, 64))

FUNCTION = {"W1": sum_of_squares, "W5": escape_count, "R1": normalize}
"""

#: The hand-written kernels, module-level so that ``cache=True`` works.
HAND = """
import numpy as np
from numba import njit, prange
from functions import escape_count

@njit(parallel=True, cache=CACHE)
def W1(x):
    out = np.empty(x.shape[0])
    for i in prange(x.shape[0]):
        acc = 0.0
        for j in range(x.shape[1]):
            acc += x[i, j] * x[i, j]
        out[i] = acc
    return out

escape_count_njit = njit(cache=CACHE)(escape_count)

@njit(parallel=True, cache=CACHE)
def W5(c):
    out = np.empty(c.shape[0], np.int64)
    for i in prange(c.shape[0]):
        out[i] = escape_count_njit(c[i])
    return out

@njit(parallel=True, cache=CACHE)
def R1(x):
    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        acc = 0.0
        for j in range(x.shape[1]):
            acc += x[i, j] * x[i, j]
        norm = np.sqrt(acc)
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] / norm
    return out
"""

CHILD = """
import json, sys, time
import numpy as np
from numba import njit

@njit
def _start_numba(x):
    return x + 1

_start_numba(1)
from functions import FUNCTION, batch

key, implementation, cache = sys.argv[1], sys.argv[2], sys.argv[3] == "warm-capable"
x = batch(key)
if implementation == "numbavmap":
    from numbavmap import vmap
    fn = vmap(FUNCTION[key], parallel=True, cache=cache)
elif implementation == "hand":
    import hand
    fn = getattr(hand, key)
else:  # the comparison's jax.vmap of each function (a lax.while_loop for W5)
    from asv_benchmarks.workloads import jax_vmapped
    jax, vmapped = jax_vmapped(key)
    compiled = jax.jit(vmapped)
    x = jax.numpy.asarray(x)
    fn = lambda a: compiled(a).block_until_ready()
start = time.perf_counter()
fn(x)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

WORKLOADS = ("W1", "W5", "R1")
IMPLEMENTATIONS = ("numbavmap", "hand", "jax")
ROOT = Path(__file__).resolve().parents[1]


def _write_scripts(folder: Path) -> None:
    (folder / "functions.py").write_text(textwrap.dedent(FUNCTIONS))
    (folder / "hand.py").write_text(textwrap.dedent(HAND).replace("CACHE", "True"))
    (folder / "child.py").write_text(textwrap.dedent(CHILD))


def _jax_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("jax") is not None


def fresh_process_seconds(folder: Path, key: str, implementation: str) -> float:
    """The first call's seconds in a new process using ``folder``'s cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "numba_cache"),
               PYTHONPATH=os.pathsep.join([str(folder), str(ROOT)]))
    done = subprocess.run([sys.executable, str(folder / "child.py"), key, implementation,
                           "warm-capable"], env=env, cwd=folder, capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{key} {implementation} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])["seconds"]


def cold_and_warm(key: str, implementation: str, repeat: int = 3) -> tuple[float, float | None]:
    """Median seconds of the first call, cold (empty cache) and warm (from disk).

    Each repetition uses a new cache folder: a cold process, then a warm one.
    JAX has no warm figure here (its persistent cache is off by default).
    """
    cold, warm = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            _write_scripts(folder)
            cold.append(fresh_process_seconds(folder, key, implementation))
            if implementation != "jax":
                warm.append(fresh_process_seconds(folder, key, implementation))
    return statistics.median(cold), statistics.median(warm) if warm else None


def table(repeat: int = 3, keys=WORKLOADS, progress=print) -> str:
    """The markdown table of first-call medians and their ratios to the hand kernel."""
    names = [name for name in IMPLEMENTATIONS if name != "jax" or _jax_installed()]
    lines = ["| workload | first call | " + " | ".join(names) + " | numbavmap / hand |",
             "| --- | --- | " + " | ".join("---:" for _ in names) + " | ---: |"]
    for key in keys:
        results = {}
        for name in names:
            progress(f"  {key} {name}: first call in fresh processes ({repeat} each)")
            results[name] = cold_and_warm(key, name, repeat)
        for column, label in ((0, "cold"), (1, "warm (from disk)")):
            cells = [_seconds(results[name][column]) for name in names]
            ratio = _ratio(results["numbavmap"][column], results["hand"][column])
            lines.append(f"| {key} | {label} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def _seconds(value) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.1f} ms" if value < 1.0 else f"{value:.2f} s"


def _ratio(value, base) -> str:
    return f"{value / base:.2f}x" if value is not None and base else "-"


def main(argv=None) -> None:
    """Print the first-call table."""
    parser = argparse.ArgumentParser(prog="python -m asv_benchmarks.first_call",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="processes per figure (median)")
    args = parser.parse_args(argv)
    print(table(args.repeat, progress=lambda message: print(message, file=sys.stderr)))


if __name__ == "__main__":
    main()
