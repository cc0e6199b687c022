"""Realistic per-example code, R1: `v / np.sqrt(np.sum(v*v))`, (20_000, 64)."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R1")
