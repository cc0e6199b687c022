"""Realistic per-example code, R7: `np.linalg.solve(A, b)`, A (20_000, 3, 3), b (20_000, 3),
both mapped."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R7")
