"""Fusing NumPy-style per-example code into loops over the kernel's arrays.

Numba allocates a new array for every NumPy temporary, once per example:
``np.sum(v ** 2)`` mapped over a million rows is a million allocations.
This pass rewrites the per-example function's body, for a documented subset
of NumPy, into scalar loops that read the mapped arguments in place and
write array results straight into the stacked outputs. For::

    def normalize(v):
        return v / np.sqrt(np.sum(v * v))

the kernel's per-example body becomes (float64 ``v``)::

    sum_0 = 0.0
    for j0 in range(v.shape[1]):
        sum_0 += (v[i, j0] * v[i, j0])
    scalar_0 = np.sqrt(sum_0)
    for j0 in range(v.shape[1]):
        out_0[i, j0] = (v[i, j0] / scalar_0)

Fusion never changes a result: every fused value carries the Numba type
the unfused compiled function gives it (``numbavmap.numba_typing`` asks
Numba). As in Numba's own array expressions, a chain of elementwise
operations is computed by Numba's scalar rules and converted to the
array's dtype where the array is stored: named, reduced or returned
(``np.sum(v + v)`` on int8 sums ``np.int8(v[i, j0] + v[i, j0])``, which
wraps as NumPy does). Reductions accumulate in Numba's accumulator type,
and where Numba's implementation is a loop (``var``, ``argmax``,
``cumsum``, ``clip``, ``trace``...) the fused loop is the same loop. The
one difference allowed is the order of float sums (and matrix products,
which Numba hands to BLAS); with ``fastmath=True``, float ``np.exp``,
``np.log`` and ``np.tanh`` also become ``numbavmap.lower.vecmath``'s
vectorisable versions, and ``np.linalg.solve``, ``inv`` and ``det`` of
small matrices Gaussian elimination written out (``numbavmap.lower.linalg``),
within the bounds of docs/user-guide/accuracy.md.
A body whose result types do not come out as Numba's is not fused.

Fused code cannot raise (arithmetic follows NumPy's error model), so the
kernel needs no ``try`` around it, which would cost vectorisation; the
failures, ``min``/``max``/``argmax``/``argmin`` of an empty example, and
what a fused ``np.linalg.solve`` or ``inv`` hands back to LAPACK (a zero,
subnormal or NaN pivot; NaN or infinity in a default ``solve``), return the
RAISED status. The caller re-runs each such example unfused: it raises
Numba's error, or its values are written into the outputs.

The subset is listed in ``numbavmap.lower.fuser`` (statements and
expressions) and ``numbavmap.lower.rules`` (NumPy functions); anything
else leaves the function as it is: ``fuse`` says why, and the kernel calls
the function.
"""

from __future__ import annotations

from . import source
from .lower.fuser import Fuser
from .lower.values import Fields, Fusion, Operand, Target, Unsupported

__all__ = ["Fields", "Fusion", "Operand", "Target", "fuse"]


def fuse(py_func, operands: dict, targets: list, taken: set,
         approximate: bool = False, scratch: bool = True, host: bool = True) -> Fusion:
    """The fused per-example body of ``py_func``, or the reason it is outside the subset.

    ``operands`` maps each parameter name to its ``Operand`` (for a tuple or
    list argument, a tuple of its items' operands, read by static index and
    unpacking; for a namedtuple, ``Fields``, also read by field name); ``targets``
    lists the output leaves in result order; ``taken`` holds names the body
    must not assign. ``approximate`` (a vmap's ``fastmath=True``) computes
    float ``np.exp``, ``np.log`` and ``np.tanh`` with ``numbavmap.lower.vecmath``,
    which vectorises, instead of the C library, and small ``np.linalg.solve``,
    ``inv`` and ``det`` with ``numbavmap.lower.linalg`` instead of LAPACK. ``scratch=False`` (device
    code) keeps the body from allocating: no value is stored once, long float
    sums add sequentially, and what cannot do without an array is not fused.
    ``host`` (CPU code) computes float ``np.exp`` with ``numbavmap.lower.libm``,
    the C library's bits in a form that vectorises, and ``np.linalg.solve`` of a
    small system as LAPACK's ``getf2`` and ``getrs`` written out
    (``numbavmap.lower.linalg``), where those bits are exact.
    """
    definition = source.definition(py_func)
    if definition is None:
        return Fusion(None, "no source code to read (a function defined by exec or at "
                            "the plain python prompt)")
    params = definition.args
    if params.vararg or params.kwarg or params.kwonlyargs or params.posonlyargs:
        return Fusion(None, "*args, **kwargs or keyword-only parameters")
    if [arg.arg for arg in params.args] != list(operands):
        return Fusion(None, "arguments passed by keyword or left to their defaults")
    try:
        fuser = Fuser(py_func, operands, targets, taken, approximate, scratch, host)
        return Fusion(tuple(fuser.body(definition.body)))
    except Unsupported as exc:
        where = f"{py_func.__code__.co_filename}:{exc.line or definition.lineno}"
        return Fusion(None, f"{exc} ({where})")
