"""Realistic per-example code, R3: rotation `R @ v`, R (500_000, 3, 3), v (500_000, 3), both
mapped."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R3")
