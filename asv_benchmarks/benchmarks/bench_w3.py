"""W3: distance of each row to one center, ``in_axes=(0, None)``."""

from asv_benchmarks.suite import suites_for

Compiled, PythonLevel, FirstCall = suites_for("W3")
