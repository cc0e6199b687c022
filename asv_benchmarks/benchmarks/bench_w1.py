"""W1: ``np.sum(v**2)`` over a tall, narrow batch."""

from asv_benchmarks.suite import suites_for

Compiled, PythonLevel, FirstCall = suites_for("W1")
