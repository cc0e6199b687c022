"""The CUDA target's tests (``tests/cuda``) pass under Numba's CUDA simulator.

The simulator must be switched on before Numba is imported, so the tests
run in a separate pytest process with ``NUMBA_ENABLE_CUDASIM=1``.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict:
    """This environment, with this checkout first on the path, plus ``extra``."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, **extra)


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                    reason="numba-cuda is not installed (pip install 'numbavmap[test]')")
def test_cuda_target_tests_pass_under_the_simulator():
    env = _env(NUMBA_ENABLE_CUDASIM="1")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
         "tests/cuda"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    report = completed.stdout + completed.stderr
    assert completed.returncode == 0, report
    passed = re.search(r"(\d+) passed", report)
    assert passed and int(passed.group(1)) > 0, report
    assert "failed" not in report and "error" not in report.lower(), report


def test_numba_cuda_is_imported_only_by_target_cuda_calls():
    code = (
        "import sys, numpy as np\n"
        "from numbavmap import vmap\n"
        "def total(v):\n"
        "    return v.sum()\n"
        "vmap(total)(np.ones((2, 3)))\n"
        "vmap(total, target='cuda').explain(np.ones((2, 3)))\n"
        "print('numba.cuda' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                               capture_output=True, text=True, timeout=300)
    assert completed.stdout.strip() == "False", completed.stdout + completed.stderr
