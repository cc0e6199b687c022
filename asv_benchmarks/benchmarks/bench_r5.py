"""Realistic per-example code, R5: `np.var(x)`, (500_000, 8)."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R5")
