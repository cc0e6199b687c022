"""Every workload, every implementation, side by side, a process per workload.

    python -m asv_benchmarks.compare [--quick] [--png PATH] [--markdown PATH]
    python -m asv_benchmarks.compare --before-after OLD_TREE [--quick]
    python -m asv_benchmarks.compare --dask [--dask-rows N]

Prints a markdown table of median (and best) times, with ratios of the medians
against the hand-written scalar-loop ``prange`` kernel (``hand_loops``) and
against ``jax.jit(jax.vmap(f))`` on JAX arrays (when jax is installed), then a
summary, one row per workload: whether ``explain()`` reports numbavmap's body
fused, numbavmap / JAX and numbavmap / hand_loops; then numbavmap's
first-call time; all under a header that describes the machine. Progress goes
to stderr.
``--quick`` (about three minutes on 2 cores) takes fewer samples and a smaller
W5 grid, and says so in the header. The implementations and workloads are
those of :mod:`asv_benchmarks.workloads`; on a machine with a CUDA GPU a
second table times W1 and W5 with ``target="cuda"`` (:mod:`asv_benchmarks.gpu`;
``--no-gpu`` leaves it out, and without a GPU it says it was skipped).
``--first-call`` times first calls in fresh processes instead
(:mod:`asv_benchmarks.first_call`). ``--before-after OLD_TREE`` times the
numbavmap column of the realistic set (or ``--workloads``) with an older
checkout's numbavmap against this one's, interleaved
(:mod:`asv_benchmarks.before_after`). ``--dask`` runs W1 on Dask arrays
instead (:mod:`asv_benchmarks.dask_workload`; needs ``numbavmap[dask]``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pickle
import platform
import random
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import numba
import numpy as np

from asv_benchmarks import gpu
from asv_benchmarks import workloads as wl

#: Samples per implementation and the least time one sample takes, by mode.
SETTINGS = {"full": dict(repeat=7, sample_time=0.1), "quick": dict(repeat=3, sample_time=0.02)}
#: Environment variables that change the numbers; the header shows those set.
ENV = ("NUMBA_OPT", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS")


def progress(message):
    print(message, file=sys.stderr, flush=True)


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def scipy_version():
    try:
        import scipy
    except ImportError:
        return "not installed"
    return scipy.__version__


def numbavmap_version():
    try:
        import numbavmap
    except ImportError:
        return "not importable"
    version = getattr(numbavmap, "__version__", "unknown version")
    try:  # the commit, where numbavmap runs from a git checkout
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(numbavmap.__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version} (git {commit})" if commit else version


def header(size, load_before):
    settings = SETTINGS[size]
    versions = ", ".join(
        f"{name} {version}"
        for name, version in [
            ("Python", platform.python_version()),
            ("numpy", np.__version__),
            ("numba", numba.__version__),
            ("scipy", scipy_version()),
            ("jax", wl.jax_version() or "not installed"),
            ("numbavmap", numbavmap_version()),
        ]
    )
    smaller = [key for key, w in wl.WORKLOADS.items() if w.sizes["quick"] != w.sizes["full"]]
    mode = "full sizes" if size == "full" else f"--quick (smaller {', '.join(smaller)})"
    options = "".join(f", {name}={os.environ[name]}" for name in ENV if name in os.environ)
    try:
        options += f", {numba.threading_layer()} threading layer"
    except ValueError:  # no parallel kernel ran
        pass
    return [
        f"Machine: {cpu_model()}, {os.cpu_count()} cores ({numba.get_num_threads()} Numba "
        f"threads{options}), {platform.system()} {platform.release()}; load average "
        f"{load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after it (this run "
        f"itself adds about 2).",
        f"Versions: {versions}.",
        f"Run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, a fresh "
        f"process per workload, float64, {mode}; median of {settings['repeat']} samples, "
        f"taken in turns across a workload's implementations, in a shuffled order each "
        f"round (each sample at least {settings['sample_time'] * 1000:g} ms of calls).",
        "python_loop and np_vectorize run on a sample of examples and are scaled to the "
        'whole batch ("scaled"). Ratios are time / time of the other implementation '
        "(below 1 is faster).",
    ]


def prepare(key, name, size):
    """The implementation, built and checked, or the reason it cannot run."""
    progress(f"  {key} {name}: build, check")
    try:
        return wl.prepare(key, name, size)
    except wl.Unavailable as exc:
        progress(f"  {key} {name}: skipped ({exc})")
        return "n/a"
    except Exception as exc:  # keep going: one broken implementation is a row, not a crash
        progress(traceback.format_exc())
        return f"error: {type(exc).__name__}"


def time_interleaved(key, prepared, size):
    """Time every implementation of a workload, one sample of each in turn, so
    that a burst of other load on a shared machine hits them all alike. Each
    round takes them in its own shuffled order (seeded by the round: the same
    in every run), so that none always runs right after the same one, whose
    threads, freed memory or caches it would inherit."""
    settings = SETTINGS[size]
    ready = {name: p for name, p in prepared.items() if isinstance(p, wl.Prepared)}
    numbers = {name: wl.calls_per_sample(p, settings["sample_time"]) for name, p in ready.items()}
    samples = {name: [] for name in ready}
    names = list(ready)
    for i in range(settings["repeat"]):
        progress(f"  {key}: timing, round {i + 1} of {settings['repeat']}")
        for name in random.Random(i).sample(names, len(names)):
            samples[name].append(wl.sample_seconds(ready[name], numbers[name]))
    return {
        name: wl.timing(samples[name], numbers[name]) if name in ready else reason
        for name, reason in prepared.items()
    }


def first_call(key, size):
    progress(f"  {key} numbavmap: first call (trace + compile + one run)")
    try:
        return wl.first_call_seconds(key, size, fn=wl.implementation(key, wl.NUMBAVMAP))
    except wl.Unavailable:
        return "n/a"
    except Exception as exc:
        progress(traceback.format_exc())
        return f"error: {type(exc).__name__}"


def fused(key):
    """``explain()``'s verdict on numbavmap's body, or why there is none."""
    try:
        return wl.explain(key)
    except wl.Unavailable:
        return "n/a"
    except Exception as exc:
        progress(traceback.format_exc())
        return f"error: {type(exc).__name__}"


def run(size, keys):
    """``{key: {name: Timing or reason}}``, ``{key: first-call seconds or
    reason}`` and ``{key: explain()'s verdict}``, each workload timed in a
    fresh process of its own (:func:`run_workload`): no workload inherits
    another's heap, compiled code or thread pools (JAX's, Numba's)."""
    times, first, bodies = {}, {}, {}
    for i, key in enumerate(keys, 1):
        progress(f"[{i}/{len(keys)}] {wl.WORKLOADS[key].describe(size)}")
        with tempfile.TemporaryDirectory() as folder:
            result = Path(folder) / "result.pickle"
            command = [sys.executable, "-m", "asv_benchmarks.compare", "--worker", key,
                       str(result)] + (["--quick"] if size == "quick" else [])
            exit_code = subprocess.run(command, cwd=Path(__file__).parents[1]).returncode
            if exit_code:
                reason = f"error: worker exited {exit_code}"
                times[key] = {name: reason for name in wl.WORKLOADS[key].implementations}
                first[key] = bodies[key] = reason
                continue
            times[key], first[key], bodies[key] = pickle.loads(result.read_bytes())
    return times, first, bodies


def run_workload(key, size):
    """Workload ``key``'s timings, numbavmap's first-call time and ``explain()``'s
    verdict, in this process."""
    first = first_call(key, size)  # before anything else compiles numbavmap
    body = fused(key)
    prepared = {name: prepare(key, name, size) for name in wl.WORKLOADS[key].implementations}
    return time_interleaved(key, prepared, size), first, body


def fmt_time(seconds):
    if not isinstance(seconds, float):
        return seconds
    units = (("s", 1.0), ("ms", 1e-3), ("us", 1e-6))
    unit, factor = next(((u, f) for u, f in units if seconds >= f), units[-1])
    value = seconds / factor
    return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"


def median(timing):
    return timing.median if isinstance(timing, wl.Timing) else timing


def fmt_ratio(timing, base):
    if not (isinstance(timing, wl.Timing) and isinstance(base, wl.Timing)):
        return ""
    ratio = timing.median / base.median
    return f"{ratio:.2g}x" if ratio < 10 else f"{ratio:.0f}x"


def label(key, name):
    if name not in wl.PYTHON_LEVEL:
        return name
    w = wl.WORKLOADS[key]
    return f"{name} (scaled from {w.sample:,} examples)" if w.sample < 10_000 else name


def summary(times, bodies):
    """One row per workload: numbavmap's body, its median and its ratios."""
    lines = [
        "| workload | numbavmap body (`explain()`) | numbavmap | jax | numbavmap / jax "
        "| hand_loops | numbavmap / hand_loops |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, row in times.items():
        ours, jax, loops = (row.get(name) for name in (wl.NUMBAVMAP, wl.JAX, wl.HAND_LOOPS))
        lines.append(
            f"| {key} | {bodies.get(key, '')} | {fmt_time(median(ours))} | "
            f"{fmt_time(median(jax))} | {fmt_ratio(ours, jax)} | {fmt_time(median(loops))} | "
            f"{fmt_ratio(ours, loops)} |"
        )
    return lines


def markdown(size, times, first, load_before, bodies=None):
    lines = [*(f"{line}  " for line in header(size, load_before)), ""]
    lines += [
        "| workload | implementation | median | best | vs hand_loops | vs jax |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for key, row in times.items():
        title = wl.WORKLOADS[key].describe(size)
        for name, timing in row.items():
            base, jax = row.get(wl.HAND_LOOPS), row.get(wl.JAX)
            best = fmt_time(timing.best) if isinstance(timing, wl.Timing) else ""
            lines.append(
                f"| {title} | {label(key, name)} | {fmt_time(median(timing))} | {best} "
                f"| {fmt_ratio(timing, base)} | {fmt_ratio(timing, jax)} |"
            )
            title = ""
    lines += ["", *summary(times, bodies or {})]
    lines += [
        "",
        "| workload | numbavmap first call (trace + compile + one run) |",
        "| --- | ---: |",
    ]
    lines += [f"| {key} | {fmt_time(seconds)} |" for key, seconds in first.items()]
    return "\n".join(lines) + "\n"


def bar_chart(times, path, size):
    """Grouped bars, one group per workload, log-scale seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(name for row in times.values() for name in row))
    keys = list(times)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(12, 5.5))
    colors = plt.get_cmap("tab10")
    firsts = [name for name in names if _variant_of(name, names) is None]
    for j, name in enumerate(names):
        base = _variant_of(name, names)
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(keys))]
        ys = [median(times[k].get(name)) for k in keys]
        pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if isinstance(y, float)]
        for x, y in zip(xs, ys, strict=True):
            if isinstance(y, str) and y.startswith("error"):  # say so, not just no bar
                ax.text(
                    x,
                    0.02,
                    f"{name}: error",
                    transform=ax.get_xaxis_transform(),
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color="red",
                )
        if pairs:
            ax.bar(
                *zip(*pairs, strict=True),
                width=width,
                color=colors(firsts.index(base or name) % 10),
                hatch="//" if name in wl.PYTHON_LEVEL else ".." if base else None,
                label=name + (" (scaled)" if name in wl.PYTHON_LEVEL else ""),
            )
    ax.set_yscale("log")
    ax.set_ylabel("median time per call (s, log scale)")
    ax.set_xticks(range(len(keys)), keys)
    ax.set_title(f"numbavmap and the alternatives ({size} sizes; lower is better)")
    ax.legend(ncol=5, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08))
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _variant_of(name, names):
    """The implementation ``name`` is a variant of ("numbavmap" for "numbavmap
    (fastmath=True)"), drawn in its colour with dots; None for the others."""
    base = name.split(" (")[0]
    return base if base != name and base in names else None


def save(table, path):
    """Write ``table`` to ``path`` (``--markdown``), if one was given."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(table)
        progress(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m asv_benchmarks.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples, smaller W5 (~3 min)")
    parser.add_argument("--png", type=Path, help="save a bar chart here (needs matplotlib)")
    parser.add_argument("--markdown", type=Path, help="save the table here too")
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=list(wl.WORKLOADS),
        default=None,
        metavar="KEY",
        help="W1 ... W7, R1 ... R11 (default: all; --before-after: R1 ... R11)",
    )
    parser.add_argument("--before-after", type=Path, metavar="OLD_TREE",
                        help="time numbavmap from the checkout OLD_TREE against this one's, "
                             "interleaved in two worker processes (before_after.py)")
    parser.add_argument("--no-gpu", action="store_true",
                        help="leave out the GPU section (W1 and W5 with target='cuda')")
    parser.add_argument("--first-call", action="store_true",
                        help="first calls in fresh processes instead: numbavmap, the hand "
                             "kernel and JAX, cold and warm from disk (first_call.py)")
    parser.add_argument("--dask", action="store_true",
                        help="W1 on Dask arrays on a 2-worker LocalCluster instead")
    parser.add_argument("--dask-rows", type=lambda text: int(float(text)), default=10_000_000,
                        help="rows of W1 for --dask (default 1e7: 240 MB; 1e8 is 2.4 GB)")
    parser.add_argument("--worker", nargs=2, metavar=("KEY", "RESULT"),
                        help=argparse.SUPPRESS)  # how run() times one workload
    args = parser.parse_args(argv)
    if args.worker:
        key, result = args.worker
        outcome = run_workload(key, "quick" if args.quick else "full")
        Path(result).write_bytes(pickle.dumps(outcome))
        return 0
    if args.first_call:
        from asv_benchmarks import first_call

        print(first_call.table(progress=progress))
        return 0
    if args.before_after:
        from asv_benchmarks import before_after

        keys = args.workloads or list(wl.REALISTIC)
        size = "quick" if args.quick else "full"
        table = before_after.table(args.before_after, keys, size, progress=progress)
        print(table)
        save(table, args.markdown)
        return 0
    if args.dask:
        from asv_benchmarks import dask_workload

        table = dask_workload.markdown(args.dask_rows, dask_workload.run(args.dask_rows,
                                                                         progress))
        print(table)
        return 0
    size = "quick" if args.quick else "full"
    load_before = os.getloadavg()[0]
    times, first, bodies = run(size, args.workloads or list(wl.WORKLOADS))
    table = markdown(size, times, first, load_before, bodies)
    if not args.no_gpu:
        reason = gpu.unavailable()
        if reason is None:
            progress("GPU section: W1 and W5 with target='cuda'")
        gpu_times = None if reason else gpu.run(size, **SETTINGS[size])
        table += "\n" + gpu.markdown(gpu_times, reason)
    print(table)
    save(table, args.markdown)
    if args.png:
        try:
            bar_chart(times, args.png, size)
        except ImportError:
            progress("--png needs matplotlib (pip install 'numbavmap[bench]'): no chart written")
            return 1
        progress(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
