"""Realistic per-example code, R2: dense layer `np.maximum(x @ W + b, 0.0)`, x (20_000, 64), W
(64, 32)."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R2")
