"""cache=True across processes: closures, edited constants and helpers, a shared cold cache.

Each test runs small scripts in child processes that share one
``NUMBA_CACHE_DIR``. A script prints one JSON object per vmapped function:
its values and how many compilations it ran.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np

from numbavmap import vmap

ROOT = Path(__file__).resolve().parents[1]
X = np.arange(6.0).reshape(3, 2)

CHILD = """
import json
import numpy as np
from numbavmap import vmap

def report(function):
    f = vmap(function, cache=True)
    values = f(np.arange(6.0).reshape(3, 2)).tolist()
    print(json.dumps({{"values": values, "compilations": f.cache_info().compilations}}))

{body}
"""

SCALERS = """
import numpy as np

def make_scaler(factor):
    def scale(v):
        return factor * np.sum(v)
    return scale
"""


def write(folder: Path, name: str, text: str) -> Path:
    """Write a dedented file; a rewrite moves its mtime 10 s on, so an edit is seen
    even when the size stays the same."""
    path = folder / name
    existed = path.exists()
    path.write_text(textwrap.dedent(text))
    if existed:
        stamp = path.stat().st_mtime + 10
        os.utime(path, (stamp, stamp))
    return path


def run_children(folder: Path, *bodies: str) -> list[list[dict]]:
    """Run one child per script body, all at once; each child's reports."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "numba_cache"), NUMBA_OPT="1",
               PYTHONPATH=os.pathsep.join([str(folder), str(ROOT)]))
    children = []
    for k, body in enumerate(bodies):
        script = write(folder, f"child_{k}.py", CHILD.format(body=textwrap.dedent(body)))
        children.append(subprocess.Popen([sys.executable, str(script)], env=env, cwd=folder,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True))
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr
        outputs.append([json.loads(line) for line in stdout.splitlines()])
    return outputs


def values(reports: list[dict]) -> list[list[float]]:
    return [report["values"] for report in reports]


def test_closures_of_one_factory_get_their_own_kernels(tmp_path):
    write(tmp_path, "scalers.py", SCALERS)
    [first] = run_children(tmp_path, "from scalers import make_scaler\n"
                                     "report(make_scaler(2.0))")
    [second] = run_children(tmp_path, "from scalers import make_scaler\n"
                                      "report(make_scaler(3.0))\n"
                                      "report(make_scaler(2.0))")
    sums = X.sum(axis=1)
    assert values(first) == [(2.0 * sums).tolist()]
    assert values(second) == [(3.0 * sums).tolist(), (2.0 * sums).tolist()]
    assert [report["compilations"] for report in second][1] == 0


CONSTANT = """
import numpy as np

SCALE = {scale}

def scaled_sum(v):
    total = 0.0
    for k in range(v.shape[0]):
        total += v[k]
    return SCALE * total
"""

HELPER = """
from numba import njit

@njit
def bump(x):
    return x + {offset}
"""

USES_HELPER = """
import numpy as np
import helpers
from helpers import bump

def bumped(v):
    return bump(np.sum(v))

def bumped_twice(v):
    return helpers.bump(helpers.bump(np.max(v)))
"""

EDITED = """
from constant import scaled_sum
from uses_helper import bumped, bumped_twice
report(scaled_sum)
report(bumped)
report(bumped_twice)
"""


def test_edited_constant_or_helper_compiles_anew(tmp_path):
    write(tmp_path, "constant.py", CONSTANT.format(scale=2.0))
    write(tmp_path, "helpers.py", HELPER.format(offset=1.0))
    write(tmp_path, "uses_helper.py", USES_HELPER)
    [before] = run_children(tmp_path, EDITED)
    write(tmp_path, "constant.py", CONSTANT.format(scale=5.0))
    write(tmp_path, "helpers.py", HELPER.format(offset=7.0))
    [after] = run_children(tmp_path, EDITED)
    sums, maxima = X.sum(axis=1), X.max(axis=1)
    assert values(before) == [(2.0 * sums).tolist(), (sums + 1.0).tolist(),
                              (maxima + 2.0).tolist()]
    assert values(after) == [(5.0 * sums).tolist(), (sums + 7.0).tolist(),
                             (maxima + 14.0).tolist()]


def test_processes_filling_one_cold_cache_all_get_correct_results(tmp_path):
    write(tmp_path, "scalers.py", SCALERS)
    body = """
    from scalers import make_scaler
    report(make_scaler(2.0))
    report(make_scaler(3.0))
    """
    expected = [(2.0 * X.sum(axis=1)).tolist(), (3.0 * X.sum(axis=1)).tolist()]
    outputs = run_children(tmp_path, body, body, body)
    assert [values(reports) for reports in outputs] == [expected] * 3
    [warm] = run_children(tmp_path, body)
    assert values(warm) == expected
    assert [report["compilations"] for report in warm] == [0, 0]





OFFSET = 1.0


def offset_sum(v):
    return np.sum(v) + OFFSET


def make_caller(helper):
    def call(v):
        return helper(np.sum(v))
    return call


def fingerprint(function) -> str:
    return vmap(function).fingerprint


def test_fingerprint_follows_closures_globals_and_helpers(monkeypatch):
    """In process: equal for equal closures, new for a new closure value, global or helper."""
    one, two = numba.njit(lambda x: x + 1.0), numba.njit(lambda x: x + 2.0)
    assert fingerprint(make_caller(one)) == fingerprint(make_caller(one))
    assert fingerprint(make_caller(one)) != fingerprint(make_caller(two))
    assert fingerprint(make_caller(1.0)) != fingerprint(make_caller(2.0))
    before = fingerprint(offset_sum)
    monkeypatch.setattr(sys.modules[__name__], "OFFSET", 2.0)
    assert fingerprint(offset_sum) != before


WORKLOADS_MODULE = """
import numpy as np

def sum_of_squares(v):
    return np.sum(v ** 2)

def escape_steps(c):
    z, n = 0.0, 0
    while abs(z) < 2.0 and n < 50:
        z = z * z + c
        n += 1
    return n
"""

WARM_CHILD = """
import json, sys
import numpy as np
from numba.core import typed_passes
from numba.core.typing.context import BaseContext
import numbavmap.api
from numbavmap import vmap
from workloads import escape_steps, sum_of_squares

if sys.argv[1] == "warm":  # Numba's typing and the trace fail loudly
    def forbidden(*args, **kwargs):
        raise AssertionError("a warm cache typed or traced")
    BaseContext.resolve_function_type = forbidden
    typed_passes.NopythonTypeInference.run_pass = forbidden
    numbavmap.api.trace = forbidden

for function, x in [(sum_of_squares, np.arange(12.0).reshape(4, 3)),
                    (escape_steps, np.linspace(-1.0, 0.5, 5))]:
    f = vmap(function, cache=True)
    values = f(x).tolist()
    info = f.cache_info()
    print(json.dumps({"values": values, "traces": info.traces,
                      "compilations": info.compilations, "fused": "body: fused" in f.explain(x)}))
"""


def test_a_warm_cache_traces_types_and_compiles_nothing(tmp_path):
    write(tmp_path, "workloads.py", WORKLOADS_MODULE)
    script = write(tmp_path, "warm_child.py", WARM_CHILD)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba_cache"), NUMBA_OPT="1",
               PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))

    def run(mode):
        done = subprocess.run([sys.executable, str(script), mode], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return [json.loads(line) for line in done.stdout.splitlines()]

    cold = run("cold")
    assert [report["fused"] for report in cold] == [True, False]
    assert all(report["traces"] == 1 and report["compilations"] >= 1 for report in cold)
    warm = run("warm")
    assert [report["values"] for report in warm] == [report["values"] for report in cold]
    assert [(report["traces"], report["compilations"]) for report in warm] == [(0, 0), (0, 0)]
