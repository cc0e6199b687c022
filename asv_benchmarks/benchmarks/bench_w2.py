"""W2: ``np.sum(v**2)`` over a short, wide batch."""

from asv_benchmarks.suite import suites_for

Compiled, PythonLevel, FirstCall = suites_for("W2")
