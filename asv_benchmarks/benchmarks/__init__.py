"""asv suites, one file per workload of ``asv_benchmarks/workloads.py``.

asv imports this folder as a top-level package named ``benchmarks``, with only
``asv_benchmarks/`` on ``sys.path``. Append the repository root so that the
shared ``asv_benchmarks`` package imports, and so does the checkout's own
``numbavmap`` where asv's environment has none installed (an installed one,
such as the commit asv built, comes first).
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
