"""The GPU benchmark's numba-cuda implementations agree with NumPy (tiny sizes)."""

import os

import pytest

from asv_benchmarks import gpu


@pytest.mark.parametrize("case", list(gpu.CASES))
@pytest.mark.parametrize("name", ["numbavmap", "hand_cuda"])
def test_gpu_implementation_agrees_with_numpy(case, name):
    prepared = gpu.prepare(case, name, "tiny")  # asserts the result against the reference
    assert prepared.name == name


def test_simulator_is_not_timed():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        pytest.skip("on a real GPU the section runs")
    assert "simulator" in gpu.unavailable()
