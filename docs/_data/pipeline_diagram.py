"""Draw docs/_data/pipeline.png: numbavmap's pipeline, one box per room.

Run ``python docs/_data/pipeline_diagram.py`` (needs matplotlib, in the
``bench`` extra) after changing ``STEPS`` or ``SIDE``; tests/test_docs.py
checks that every module named here exists.
"""

from __future__ import annotations

from pathlib import Path

#: The pipeline's steps, top to bottom: (room, its modules, what flows out of it).
STEPS = [
    ("call", "api.py: VmappedFunction.__call__", "args, kwargs"),
    ("bind", "calls.py, specs.py, trees.py", "BoundCall: leaves, axes, specialization key"),
    ("trace (once per key)", "trace.py, example_function.py", "result on one example, Numba types"),
    ("describe", "specialize.py, fuse.py", "KernelDescription (ir.py): fused loops or a call"),
    ("target", "targets/cpu.py, targets/cpu_jit.py (from @njit)", "compiled kernel"),
    ("execute", "execute.py: CallPlan", "stacked outputs"),
]

#: Beside the pipeline: what every step reads, and the row it sits on.
SIDE = [
    ("options", "options.py: one frozen Options\n"
                "(parallel, fastmath, boundscheck, cache, target)", 3),
    ("caches", "api.py: specializations, plans, kernels\n"
               "loader.py, fingerprint.py: kernels on disk", 4),
]

OUTPUT = Path(__file__).with_name("pipeline.png")


def draw(path: Path = OUTPUT) -> None:
    """Write the picture to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    rows = len(STEPS)
    fig, ax = plt.subplots(figsize=(11, 0.95 * rows + 0.4), dpi=110)
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.2, rows * 1.0 + 0.1)
    ax.axis("off")

    def box(x, y, width, title, text, color):
        ax.add_patch(FancyBboxPatch((x, y), width, 0.62,
                                    boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=color, edgecolor="#2b5d8a", linewidth=1.2))
        two_lines = "\n" in text
        ax.text(x + 0.12, y + (0.48 if two_lines else 0.43), title, fontsize=10.5,
                fontweight="bold", va="center")
        ax.text(x + 0.12, y + (0.2 if two_lines else 0.17), text, fontsize=8.5, va="center")

    top = rows - 0.75
    for k, (room, modules, output) in enumerate(STEPS):
        y = top - k
        box(0.2, y, 5.2, room, modules, "#eef4fb")
        ax.annotate("", xy=(2.8, y - 0.34), xytext=(2.8, y),
                    arrowprops={"arrowstyle": "-|>", "color": "#2b5d8a", "lw": 1.4})
        ax.text(2.95, y - 0.2, output, fontsize=8.5, style="italic", color="#444", va="center")
    for title, text, row in SIDE:
        y = top - row
        box(5.9, y, 4.9, title, text, "#fbf5e6")
        ax.annotate("", xy=(5.45, y + 0.31), xytext=(5.9, y + 0.31),
                    arrowprops={"arrowstyle": "-|>", "color": "#b08a2e", "lw": 1.0, "ls": "--"})
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    draw()
