"""Realistic per-example code, R10: logsumexp, (20_000, 64)."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R10")
