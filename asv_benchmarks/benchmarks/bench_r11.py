"""Realistic per-example code, R11: sigmoid `1 / (1 + np.exp(-x))`, (20_000, 64)."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R11")
