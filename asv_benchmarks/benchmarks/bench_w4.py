"""W4: normalizing each row: an array result per example."""

from asv_benchmarks.suite import suites_for

Compiled, PythonLevel, FirstCall = suites_for("W4")
