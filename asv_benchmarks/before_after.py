"""numbavmap's column before and after: an older checkout against this one.

    python -m asv_benchmarks.compare --before-after OLD_TREE [--quick] [--workloads KEY ...]

Two numbavmap versions cannot share a process, so each runs in a worker
process of its own: ``PYTHONPATH`` puts the old checkout's ``numbavmap``
(``OLD_TREE``) or this process's first, and a copy of this
``asv_benchmarks`` package after it, so that both time the same workloads
module. Each worker builds and checks the ``numbavmap`` implementation of
every workload and reports ``explain()``'s verdict; the parent then asks
the two for one sample after the other, alternating which goes first, so
that load on a shared machine hits both alike. The table gives the medians
(default: the realistic set R1-R11). To make an old tree, e.g.
``git worktree add --detach /tmp/before a76bfb1``.

The worker protocol (``python -m asv_benchmarks.before_after SIZE KEY ...``):
one JSON line per workload when ready, then one line of seconds per request
line (a workload key) on stdin, until stdin closes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from asv_benchmarks import compare
from asv_benchmarks import workloads as wl

PACKAGE = Path(__file__).resolve().parent


def _git_commit(tree):
    proc = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or "not a git checkout"


class Worker:
    """One worker process timing numbavmap from checkout ``tree``."""

    def __init__(self, tree, bench_parent, size, keys):
        env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{bench_parent}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "asv_benchmarks.before_after", size, *keys],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, cwd=bench_parent,
        )
        self.ready = {}

    def wait_ready(self, keys):
        """``{key: {"fused": ..., "error": ...}}`` once every workload is built."""
        for _ in keys:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker exited with {self.proc.wait()}")
            report = json.loads(line)
            self.ready[report["key"]] = report
        return self.ready

    def sample(self, key):
        self.proc.stdin.write(key + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def measure(old_tree, keys, size="full", progress=compare.progress):
    """``{side: {key: report}}`` for ``side`` in before/after, each report with
    ``fused``, ``file`` and either ``samples`` (seconds) or ``error``."""
    import numbavmap  # the "after" side: the numbavmap this process imports

    new_tree = Path(numbavmap.__file__).resolve().parents[1]
    trees = {"before": Path(old_tree).resolve(), "after": new_tree}
    settings = compare.SETTINGS[size]
    with tempfile.TemporaryDirectory(prefix="numbavmap-before-after-") as bench_parent:
        shutil.copytree(PACKAGE, Path(bench_parent) / PACKAGE.name,
                        ignore=shutil.ignore_patterns("__pycache__", ".asv"))
        progress(f"building numbavmap for {', '.join(keys)} in two workers")
        workers = {side: Worker(tree, bench_parent, size, keys) for side, tree in trees.items()}
        try:
            reports = {side: w.wait_ready(keys) for side, w in workers.items()}
            order = list(workers)
            for i in range(settings["repeat"]):
                progress(f"  timing, round {i + 1} of {settings['repeat']}")
                for key in keys:
                    for side in order:
                        if "error" not in reports[side][key]:
                            reports[side][key].setdefault("samples", []).append(
                                workers[side].sample(key))
                order.reverse()
        finally:
            for w in workers.values():
                w.close()
    for side, tree in trees.items():
        reports[side]["tree"] = f"{tree} ({_git_commit(tree)})"
    return reports


def markdown(reports, keys, size, load_before):
    lines = [
        f"Machine: {compare.cpu_model()}, {os.cpu_count()} cores; load average "
        f"{load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after it.  ",
        f"Before: numbavmap from {reports['before']['tree']}.  ",
        f"After: numbavmap from {reports['after']['tree']}.  ",
        f"Run: float64, {size} sizes, numbavmap with default options; median of "
        f"{compare.SETTINGS[size]['repeat']} samples per side, before and after taken in "
        "turns in two worker processes.",
        "",
        "| workload | before: body | after: body | before | after | after / before |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for key in keys:
        before, after = reports["before"][key], reports["after"][key]
        times = [statistics.median(r["samples"]) if "samples" in r else r.get("error", "n/a")
                 for r in (before, after)]
        ratio = (f"{times[1] / times[0]:.2f}x" if all(isinstance(t, float) for t in times)
                 else "")
        lines.append(
            f"| {wl.WORKLOADS[key].describe(size)} | {before['fused']} | {after['fused']} | "
            f"{compare.fmt_time(times[0])} | {compare.fmt_time(times[1])} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def table(old_tree, keys, size="full", progress=compare.progress):
    """Measure and format: the markdown table ``--before-after`` prints."""
    load_before = os.getloadavg()[0]
    return markdown(measure(old_tree, keys, size, progress), keys, size, load_before)


def worker(size, keys):
    """Build, check and report every workload, then time one on each request."""
    import numbavmap

    settings = compare.SETTINGS[size]
    prepared, numbers = {}, {}
    for key in keys:
        report = {"key": key, "file": numbavmap.__file__, "fused": compare.fused(key)}
        try:
            prepared[key] = wl.prepare(key, wl.NUMBAVMAP, size)
            numbers[key] = wl.calls_per_sample(prepared[key], settings["sample_time"])
        except Exception as exc:  # an old numbavmap may not run it: a cell, not a crash
            report["error"] = f"error: {type(exc).__name__}"
        print(json.dumps(report), flush=True)
    for line in sys.stdin:
        key = line.strip()
        print(wl.sample_seconds(prepared[key], numbers[key]), flush=True)


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2:])
