"""W6: pairwise distances by nested vmap (and scipy's cdist)."""

from asv_benchmarks.suite import suites_for

Compiled, PythonLevel, FirstCall = suites_for("W6")
