"""The C library's ``exp`` and ``expf``, bit for bit, in a form LLVM vectorises.

Numba lowers ``np.exp`` to a call of the C library's ``exp`` (``expf`` for
float32), one element at a time, and a loop holding that call is not
vectorised. On x86-64 Linux with FMA (and on other platforms built the same
way), that function is glibc's ``exp`` (Szabolcs Nagy's, from Arm's
optimized-routines, glibc 2.28 on): ``x = k ln2/128 + r``,
``exp(x) = 2**(k/128) exp(r)``, with ``2**(k/128)`` from a 128-entry table
and ``exp(r) - 1`` from a degree-5 polynomial, each multiply-add fused as
GCC fuses them in its FMA build. ``exp`` below is the same arithmetic in the
same order, including the special cases (tiny, huge, infinite and NaN
arguments, results that overflow or are subnormal), written as arithmetic,
comparisons and selects only, so that once inlined into a fused loop it runs
four elements at a time (``<4 x double>`` on AVX2) and gives the same bits.
``expf`` is glibc's ``expf`` likewise (a 32-entry table and a cubic, in
float64, rounded once to float32).

``exp_common`` is ``exp`` for ``|x| < 512`` only: no rescaling, no special
cases (below ``2**-54`` its polynomial gives ``1 + x`` too); the emitter's
``writing_loop`` runs it, and runs the loop again with ``exp`` for an example
where any argument is ``uncommon`` (``|x| >= 512``, infinite or NaN).

The same bits are a fact about the machine, not a promise: ``is_exact(name)``
compares ``exp`` (or ``expf``) with the compiled ``np.exp`` on about 65,000
arguments over the whole range, once per process, on first use (glibc's
build for CPUs without FMA, for one, differs on about 1 argument in 1,400),
and the fuser calls them only where that comparison found no difference.
Elsewhere (another C library, a CPU without FMA) fused code calls ``np.exp``
as before. ``tests/test_libm.py`` compares 8 million float64 and 3 million
float32 arguments, every special value among them.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic

from .vecmath import _bits, _from_bits

__all__ = ["exp", "exp_common", "expf", "fma", "is_exact", "uncommon"]

_FLAGS = dict(fastmath=False, error_model="numpy", forceinline=True, nogil=True)

#: The table's size: ``2**(k/128)`` for k mod 128.
_N = 128
_INV_LN2_N = float.fromhex("0x1.71547652b82fep+7")  # 128 / ln2
_NEG_LN2_HI_N = float.fromhex("-0x1.62e42fefa0000p-8")  # -ln2/128, top bits
_NEG_LN2_LO_N = float.fromhex("-0x1.cf79abc9e3b3ap-47")  # and the rest
_SHIFT = float.fromhex("0x1.8p52")  # adding it rounds to an integer
_C2, _C3, _C4, _C5 = (float.fromhex("0x1.ffffffffffdbdp-2"), float.fromhex("0x1.555555555543cp-3"),
                      float.fromhex("0x1.55555cf172b91p-5"), float.fromhex("0x1.1111167a4d017p-7"))
#: Exponent fields bounding the common case: below, |x| < 2**-54 and exp(x) is
#: 1 + x; at _TOP_SCALED, 512 <= |x| < 1024 and 2**(k/128) needs rescaling;
#: from _TOP_HUGE on, |x| >= 1024, infinities and NaN.
_TOP_TINY, _TOP_SCALED, _TOP_HUGE = 0x3C9, 0x408, 0x409
_TOP_NAN = 0x7FF


def _table(size: int = _N) -> tuple[np.ndarray, np.ndarray]:
    """glibc's table: for each k < size, ``2**(k/size) = H (1 + T)`` with H the
    nearest float64 and T the rounded relative remainder; stored as T, and
    H's bits less k's share of the exponent (added back per call)."""
    tails, scales = [], []
    shift = 52 - (size.bit_length() - 1)  # log2(size) bits of k index the table
    with localcontext() as context:
        context.prec = 60
        for k in range(size):
            exact = Decimal(2) ** (Decimal(k) / size)
            head = float(exact)
            tails.append(float((exact - Decimal(head)) / Decimal(head)))
            scales.append(int(np.float64(head).view(np.int64)) - (k << shift))
    return np.array(tails), np.array(scales, dtype=np.int64)


_TAIL, _SCALE_BITS = _table()

# expf (glibc 2.27 on, same authors): 2**(k/32) from a table, the rest by a
# cubic, all in float64, rounded once to float32 at the end
_INV_LN2_32 = float.fromhex("0x1.71547652b82fep+5")  # 32 / ln2
_F0, _F1, _F2 = (float.fromhex("0x1.c6af84b912394p-20"), float.fromhex("0x1.ebfce50fac4f3p-13"),
                 float.fromhex("0x1.62e42ff0c52d6p-6"))
#: float32 bounds: above, exp overflows; below, it is 0; between that and the
#: next, glibc returns the smallest subnormal (its "may underflow" case).
_EXPF_OVERFLOW = float.fromhex("0x1.62e42ep6")
_EXPF_ZERO = float.fromhex("-0x1.9fe368p6")
_EXPF_TINIEST = float.fromhex("-0x1.9d1d9ep6")
_SMALLEST_SUBNORMAL_F32 = 2.0**-149
_EXPF_SCALE_BITS = _table(32)[1]


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``llvm.fma``): in float32 where all three
    are float32, else in float64."""
    single = all(t == types.float32 for t in (a, b, c))
    result = types.float32 if single else types.float64

    def codegen(context, builder, signature, args):
        llvm_type = ir.FloatType() if single else ir.DoubleType()
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(llvm_type, [llvm_type] * 3),
            "llvm.fma.f32" if single else "llvm.fma.f64")
        return builder.call(function, [context.cast(builder, arg, t, result)
                                       for arg, t in zip(args, signature.args)])
    return result(a, b, c), codegen


@njit(**_FLAGS)
def _reduced(x):
    """The bits of 2**(k/128) (``x ~ k ln2/128``) and glibc's ``tmp``:
    ``exp(x) = 2**(k/128) (1 + tmp)``."""
    shifted = fma(x, _INV_LN2_N, _SHIFT)
    k = _bits(shifted)
    kd = shifted - _SHIFT
    r = fma(kd, _NEG_LN2_LO_N, fma(kd, _NEG_LN2_HI_N, x))
    index = k & (_N - 1)
    r2 = r * r
    tmp = fma(r2 * r2, fma(r, _C5, _C4),
               fma(fma(r, _C3, _C2), r2, r + _TAIL[index]))
    return _SCALE_BITS[index] + (k << 45), tmp


@njit(**_FLAGS)
def _top(x):
    """The exponent field of ``x``: the ``_TOP_*`` bounds compare with it."""
    return (_bits(x) >> 52) & 0x7FF


@njit(**_FLAGS)
def _edges(x, y):
    """``y``, or exp's value where ``x`` is tiny, huge, infinite or NaN."""
    top = _top(x)
    huge = 0.0 if x < 0.0 else np.inf  # |x| >= 1024: underflow or overflow
    huge = 1.0 + x if (top == _TOP_NAN) & (x != -np.inf) else huge  # inf, NaN
    y = huge if top >= _TOP_HUGE else y
    return 1.0 + x if top < _TOP_TINY else y


@njit(**_FLAGS)
def _rescaled(x):
    """Whether ``512 <= |x| < 1024``, where 2**(k/128) needs rescaling."""
    return _top(x) == _TOP_SCALED


@njit(**_FLAGS)
def uncommon(x):
    """Whether ``|x| >= 512``, or ``x`` is infinite or NaN: the cases ``exp_common``
    leaves out."""
    return _top(x) >= _TOP_SCALED


@njit(**_FLAGS)
def exp_common(x):
    """``exp(x)`` for every ``x`` but ``uncommon(x)`` ones, without ``exp``'s
    rescaling and special-case selects: fused loops run it, and run again with
    ``exp`` for an example where any argument is ``uncommon``. Where
    ``|x| < 2**-54``, ``r`` is ``x`` and ``tmp`` rounds to ``x``, so the result
    is ``1 + x`` rounded, as ``exp`` gives."""
    scale_bits, tmp = _reduced(x)
    scale = _from_bits(scale_bits)
    return fma(scale, tmp, scale)


@njit(**_FLAGS)
def exp(x):
    """``e**x`` with the bits of the C library's ``exp`` where ``is_exact()``; vectorisable."""
    scale_bits, tmp = _reduced(x)
    # 512 <= |x| < 1024: scale 2**(k/128) down by 2**1009 (x > 0) or up by 2**1022
    # (x < 0) so that its exponent fits, and the result back by as much at the end
    scaled = _rescaled(x)
    rescale = np.int64(scaled & (x > 0.0)) * 1009 - np.int64(scaled & (x < 0.0)) * 1022
    scale = _from_bits(scale_bits - (rescale << 52))
    y = fma(scale, tmp, scale)
    # below -512 glibc adds scale * tmp unfused, and a result headed for the
    # subnormal range is rounded to its precision first (one rounding in all)
    scaled_tmp = scale * tmp
    low = scale + scaled_tmp
    hi = 1.0 + low
    lo = 1.0 - hi + low + (scale - low + scaled_tmp)
    low = (hi + lo) - 1.0 if low < 1.0 else low
    y = low if scaled & (x < 0.0) else y
    return _edges(x, y * _from_bits((1023 + rescale) << 52))


@njit(**_FLAGS)
def expf(x):
    """``e**x`` of a float32, with the bits of the C library's ``expf`` where
    ``is_exact("expf")``; vectorisable."""
    xd = np.float64(x)
    shifted = fma(xd, _INV_LN2_32, _SHIFT)
    k = _bits(shifted)
    kd = shifted - _SHIFT
    r = fma(xd, _INV_LN2_32, -kd)
    scale = _from_bits(_EXPF_SCALE_BITS[k & 31] + (k << 47))
    y = fma(fma(r, _F0, _F1), r * r, fma(r, _F2, 1.0)) * scale
    special = _SMALLEST_SUBNORMAL_F32 if xd < _EXPF_TINIEST else y
    special = 0.0 if xd < _EXPF_ZERO else special
    special = np.inf if xd > _EXPF_OVERFLOW else special
    special = xd + xd if xd != xd or xd == np.inf else special
    y = y if abs(xd) < 88.0 else special
    return np.float32(y)


@njit(error_model="numpy", nogil=True, cache=True)
def _differences(x):
    """How many of ``x`` get other bits from ``exp`` than from the compiled ``np.exp``."""
    count = 0
    for v in x:
        count += _bits(exp(v)) != _bits(np.exp(v))
    return count


@njit(error_model="numpy", nogil=True, cache=True)
def _differences_f32(x):
    """How many of the float32 ``x`` get other bits from ``expf`` than from ``np.exp``."""
    count = 0
    for v in x:
        ours, theirs = expf(v), np.exp(v)
        count += ours != theirs and not (ours != ours and theirs != theirs)
    return count


def probe_arguments() -> np.ndarray:
    """The arguments ``is_exact`` compares: special values and the bounds of
    every case, 64 per binade of |x| from 2**-60 to 2**11, and 48,000
    spread over [-746, 710] and [-1, 1]."""
    rng = np.random.default_rng(20261128)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.0**-54, -2.0**-54,
               512.0, -512.0, 1024.0, -1024.0, 709.782712893384, 709.7827128933841,
               -708.3964185322641, -708.3964185322642, -745.1332191019411, -745.1332191019412,
               88.0, -88.0, _EXPF_OVERFLOW, _EXPF_ZERO, _EXPF_TINIEST, -103.5]
    binades = [sign * rng.uniform(1.0, 2.0, 64) * 2.0**e
               for e in range(-60, 11) for sign in (1.0, -1.0)]
    spread = [rng.uniform(-746.0, 710.0, 32_000), rng.uniform(-1.0, 1.0, 16_000),
              rng.uniform(-105.0, 90.0, 8_000)]
    return np.concatenate([np.array(special), *binades, *spread])


def _float32(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to float32, those beyond its range to infinities, silently."""
    with np.errstate(over="ignore"):
        return x.astype(np.float32)


_PROBES = {"exp": lambda x: _differences(x), "expf": lambda x: _differences_f32(_float32(x))}
_exact: dict[str, bool] = {}


def is_exact(name: str = "exp") -> bool:
    """Whether ``exp`` (or ``expf``) gives the compiled ``np.exp``'s bits on this
    machine (for float64, or float32): compared once per process, on
    ``probe_arguments()``, on first use, under Numba's compiler lock (the probe
    compiles; a thread asking while it compiles an ``@njit`` caller holds it)."""
    with global_compiler_lock:
        if name not in _exact:
            _exact[name] = _PROBES[name](probe_arguments()) == 0
        return _exact[name]
