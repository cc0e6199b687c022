"""A corpus of realistic per-example functions: each matches the loop, and most fuse.

The corpus (``tests/corpus.py``) is what scientists write per example; the
fused rate is the share of it that ``explain()`` reports fused. Each entry
compiles once (one serial ``vmap`` per entry, shared by both tests).
"""

import numpy as np
import pytest

from numbavmap import vmap
from numbavmap.testing import assert_trees_close, loop_reference
from tests.corpus import CASES

#: The share of the corpus that must fuse.
FUSED_RATE = 0.9

VMAPPED = {case.name: vmap(case.function, in_axes=case.in_axes, parallel=False)
           for case in CASES}


def test_the_corpus_is_large_and_names_are_unique():
    assert len(CASES) >= 60
    assert len(VMAPPED) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_corpus_entry_matches_the_loop(case):
    actual = VMAPPED[case.name](*case.args)
    expected = loop_reference(case.function, *case.args, in_axes=case.in_axes)
    assert_trees_close(actual, expected, rtol=1e-12, atol=1e-14)


def test_most_of_the_corpus_fuses(capsys):
    reports = {case.name: VMAPPED[case.name].explain(*case.args) for case in CASES}
    not_fused = {name: next(line for line in report.splitlines() if line.startswith("body:"))
                 for name, report in reports.items() if "body: fused" not in report}
    rate = 1 - len(not_fused) / len(CASES)
    with capsys.disabled():
        print(f"\ncorpus: {len(CASES) - len(not_fused)} of {len(CASES)} fused ({rate:.0%})")
        for name, line in sorted(not_fused.items()):
            print(f"  {name}: {line}")
    assert rate >= FUSED_RATE, f"{rate:.0%} fused; not fused: {sorted(not_fused)}"


def test_explain_agrees_with_the_kernel_listing():
    for case in CASES[:: max(1, len(CASES) // 8)]:
        fused = "body: fused" in VMAPPED[case.name].explain(*case.args)
        listing = VMAPPED[case.name].inspect_kernel(*case.args)
        assert fused == ("fused loops per example" in listing), case.name


def test_corpus_inputs_are_small():
    assert all(np.size(arg) <= 64 for case in CASES for arg in case.args)
