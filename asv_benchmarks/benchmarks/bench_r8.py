"""Realistic per-example code, R8: standardize `(x - mu) / sd`, (200_000, 16), mu and sd
unmapped."""

from asv_benchmarks.suite import suites_for

Compiled, FirstCall = suites_for("R8")
