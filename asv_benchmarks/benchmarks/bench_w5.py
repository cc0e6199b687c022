"""W5: Mandelbrot escape counts: a data-dependent ``while`` loop."""

from asv_benchmarks.suite import suites_for

Compiled, PythonLevel, FirstCall = suites_for("W5")
