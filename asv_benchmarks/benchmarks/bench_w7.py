"""W7: call overhead on the seed's (4, 3) batch."""

from asv_benchmarks.suite import suites_for

Compiled, PythonLevel, FirstCall = suites_for("W7")
