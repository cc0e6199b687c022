"""numbavmap's benchmarks: the asv suites (``benchmarks/``), the workloads
they share (``workloads.py``) and the side-by-side table
(``python -m asv_benchmarks.compare``). Not part of the installed package."""
