"""Shared test settings: modest hypothesis example counts (Numba compiles are slow).

The suite compiles hundreds of kernels, and LLVM's full optimisation of N-d
array code takes seconds per kernel. Tests check results, not speed, so they
compile at ``NUMBA_OPT=1`` unless the environment says otherwise (set
``NUMBA_OPT=3`` to test at Numba's default). Benchmarks use the default.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("NUMBA_OPT", "1")

#: tests/cuda needs a GPU or Numba's CUDA simulator, chosen before Numba is
#: imported: ``tests/test_cuda_simulator.py`` runs it in a subprocess with
#: ``NUMBA_ENABLE_CUDASIM=1``; on a GPU run ``NUMBAVMAP_CUDA_TESTS=1 pytest tests/cuda``.
CUDA_TESTS = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or bool(
    os.environ.get("NUMBAVMAP_CUDA_TESTS"))
collect_ignore = [] if CUDA_TESTS else ["cuda"]

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # asv_benchmarks/ is not installed with the package
    sys.path.append(str(ROOT))

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("NUMBAVMAP_HYPOTHESIS_PROFILE", "ci"))
