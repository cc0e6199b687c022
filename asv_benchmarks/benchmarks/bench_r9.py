"""Realistic per-example code, R9: `np.cumsum(x)`, (200_000, 16)."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R9")
