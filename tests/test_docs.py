"""The documentation's examples run, and the site builds with warnings as errors.

Every page in ``docs/`` is Markdown (MyST). Its examples are fenced
``pycon`` blocks written as Python console sessions (``>>>`` lines followed
by the expected output). This module collects them and runs them with
:mod:`doctest`, one test per page, all the blocks of a page sharing one
namespace in page order, so an example whose output changes fails the suite.

Markers, written as an HTML comment on the line(s) just before a fence:

``<!-- doctest: requires FEATURE -->``
    The block needs a feature that may not be in numbavmap yet (see
    ``FEATURES``). While the feature's probe fails, the block is left out of
    the page's run and reported as a skipped test naming the feature; once
    the probe passes, it runs with the rest of the page, unchanged. Later
    blocks on the same page must not depend on a block that may be skipped
    unless they carry the same marker.

``<!-- doctest: not-run REASON -->``
    A ``python`` block that is shown but never run (for instance a sketch of
    a call signature). Every ``python`` block must carry it: runnable code
    goes in ``pycon`` blocks.

``PAGES_WITHOUT_EXAMPLES`` names the pages that have no runnable example on
purpose; every other page must have at least one.
"""

from __future__ import annotations

import doctest
import functools
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Pages that have no runnable example, by choice (paths relative to docs/).
PAGES_WITHOUT_EXAMPLES = {
    "user-guide/index.md",  # a table of contents
    "api.md",  # generated from docstrings
}

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# NumPy's default print options, whatever another test may have set.
NUMPY_PRINT_DEFAULTS = dict(
    precision=8,
    threshold=1000,
    edgeitems=3,
    linewidth=75,
    suppress=False,
    nanstr="nan",
    infstr="inf",
    sign="-",
    floatmode="maxprec",
    legacy=False,
)


# --------------------------------------------------------------------------
# Features that pages may need: optional dependencies, and (while one is
# being built) numbavmap features that are not there yet. Each probe must be
# cheap when the feature is missing; it runs at most once per session.


@functools.cache
def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


FEATURES = {
    "jax": (
        functools.partial(_has_module, "jax"),
        "jax is not installed (pip install 'numbavmap[jax]')",
    ),
    "dask": (
        functools.partial(_has_module, "distributed"),
        "dask is not installed (pip install 'numbavmap[dask]')",
    ),
    "xarray": (
        functools.partial(_has_module, "xarray"),
        "xarray is not installed (pip install 'numbavmap[dask]')",
    ),
}


# --------------------------------------------------------------------------
# Reading the pages.

FENCE_OPEN = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
MARKER = re.compile(r"<!--\s*doctest:\s*(?P<kind>requires|not-run)\s+(?P<arg>.*?)\s*-->")


@dataclass
class Block:
    page: str
    lang: str
    lineno: int  # 0-based line of the first line of the body
    body: str
    requires: list[str] = field(default_factory=list)
    not_run: str | None = None


def _pages() -> list[Path]:
    return sorted(
        p
        for p in DOCS.rglob("*.md")
        if not any(part.startswith("_") for part in p.relative_to(DOCS).parts)
    )


def _page_id(path: Path) -> str:
    return path.relative_to(DOCS).as_posix()


def _blocks(path: Path) -> list[Block]:
    """Every fenced code block of a page, with the markers just before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    pending: list[re.Match] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        opened = FENCE_OPEN.match(line)
        if opened is None:
            marks = list(MARKER.finditer(line))
            if marks:
                pending.extend(marks)
            elif line.strip():
                pending = []
            i += 1
            continue
        fence = opened["fence"]
        close = re.compile(rf"^[ ]{{0,3}}{fence[0]}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        block = Block(
            page=_page_id(path),
            lang=opened["info"].strip().split(" ")[0] if opened["info"].strip() else "",
            lineno=i + 1,
            body="\n".join(lines[i + 1 : j]) + "\n",
        )
        for mark in pending:
            if mark["kind"] == "requires":
                block.requires.extend(mark["arg"].split())
            else:
                block.not_run = mark["arg"]
        pending = []
        blocks.append(block)
        i = j + 1
    return blocks


def _doctest_blocks(path: Path) -> list[Block]:
    return [b for b in _blocks(path) if b.lang == "pycon"]


def _missing(block: Block) -> list[str]:
    return [name for name in block.requires if not FEATURES[name][0]()]


def _doctest(path: Path, blocks: list[Block]) -> doctest.DocTest:
    parser = doctest.DocTestParser()
    name = _page_id(path)
    examples = []
    for block in blocks:
        for example in parser.get_examples(block.body, name=name):
            example.lineno += block.lineno
            examples.append(example)
    return doctest.DocTest(examples, {"__name__": "__main__"}, name, str(path), 0, None)


# --------------------------------------------------------------------------
# One test per page (and one skipped test per missing feature a page needs).


def _page_params():
    params = []
    for path in _pages():
        blocks = _doctest_blocks(path)
        if not blocks:
            continue
        page = _page_id(path)
        params.append(pytest.param(path, None, id=page))
        for feature in sorted({f for b in blocks for f in b.requires}):
            params.append(pytest.param(path, feature, id=f"{page}[requires {feature}]"))
    return params


@pytest.mark.parametrize(("path", "feature"), _page_params())
def test_page_examples(path, feature):
    blocks = _doctest_blocks(path)
    if feature is not None:
        # This test only reports whether the page's blocks that need
        # `feature` run; they run inside the page's own test when they can.
        probe, reason = FEATURES[feature]
        if not probe():
            n = sum(feature in b.requires for b in blocks)
            pytest.skip(f"{n} example block(s) of {_page_id(path)} skipped: {reason}")
        return
    runnable = [b for b in blocks if not _missing(b)]
    test = _doctest(path, runnable)
    assert test.examples, f"{_page_id(path)}: every example needs a missing feature"
    out = []
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    with np.printoptions(**NUMPY_PRINT_DEFAULTS):
        result = runner.run(test, out=out.append, clear_globs=True)
    if result.failed:
        pytest.fail(
            f"{result.failed} of {result.attempted} examples in docs/{_page_id(path)} "
            f"failed:\n" + "".join(out),
            pytrace=False,
        )


# --------------------------------------------------------------------------
# The docstrings' examples: the API reference page shows them.


def _docstring_doctests():
    import pkgutil

    import numbavmap

    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for info in pkgutil.walk_packages(numbavmap.__path__, "numbavmap."):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # importing it runs the demo
            continue
        module = importlib.import_module(info.name)
        tests.extend(t for t in finder.find(module) if t.examples)
    tests.extend(t for t in finder.find(numbavmap) if t.examples)
    return sorted(tests, key=lambda t: t.name)


@pytest.mark.parametrize("test", _docstring_doctests(), ids=lambda t: t.name)
def test_docstring_examples(test):
    out = []
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    test.globs = dict(test.globs)  # a fresh copy: a rerun starts from the module's globals
    with np.printoptions(**NUMPY_PRINT_DEFAULTS):
        result = runner.run(test, out=out.append, clear_globs=False)
    if result.failed:
        pytest.fail("".join(out), pytrace=False)


# --------------------------------------------------------------------------
# The rules that keep every example runnable.


def test_pages_without_examples_are_a_choice():
    without = {_page_id(p) for p in _pages() if not _doctest_blocks(p)}
    assert without == PAGES_WITHOUT_EXAMPLES, (
        "pages with no runnable example must be listed in PAGES_WITHOUT_EXAMPLES "
        "(and pages listed there must have none)"
    )


@pytest.mark.parametrize("path", _pages(), ids=_page_id)
def test_code_blocks_follow_the_rules(path):
    problems = []
    for block in _blocks(path):
        where = f"docs/{block.page}:{block.lineno}"
        if block.lang in ("python", "py", "python3", ""):
            if ">>>" in block.body:
                problems.append(f"{where}: a console session must be a `pycon` block")
            elif block.lang != "" and block.not_run is None:
                problems.append(
                    f"{where}: a `python` block is never run; make it a `pycon` example "
                    "or mark it <!-- doctest: not-run REASON -->"
                )
        if block.lang == "pycon":
            if ">>>" not in block.body:
                problems.append(f"{where}: a `pycon` block without a `>>>` example")
            if block.not_run is not None:
                problems.append(f"{where}: `pycon` blocks always run; drop not-run")
        for name in block.requires:
            if name not in FEATURES:
                problems.append(f"{where}: unknown feature {name!r}; known: {sorted(FEATURES)}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# The site builds, warnings as errors.


def test_sphinx_build(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout}\n{proc.stderr}"
    assert (tmp_path / "html" / "index.html").exists()
