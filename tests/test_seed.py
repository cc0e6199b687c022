"""The seed walk-through behaves as its text says, in a fresh process."""

import subprocess
import sys


def test_walk_through_prints_once_and_returns_the_seed_output():
    done = subprocess.run([sys.executable, "-m", "numbavmap", "--quick"],
                          capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    trace_line = "Running sum_of_squares for a vector of shape: (3,)"
    assert lines.count(trace_line) == 1
    assert lines[-1] == "[ 14.  77. 194.   1.]"
    assert lines.index(trace_line) == len(lines) - 2
