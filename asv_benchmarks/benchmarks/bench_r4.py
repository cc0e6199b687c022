"""Realistic per-example code, R4: quadratic form `x @ A @ x`, x (1_000_000, 3), A unmapped."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R4")
