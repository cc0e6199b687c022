"""``exp``, ``log`` and ``tanh`` that LLVM's loop vectoriser can vectorise.

Numba lowers ``np.exp`` to a call of the C library's ``exp``, one element at
a time, and a loop holding that call is not vectorised (llvmlite here has no
SVML). These are the same functions written as arithmetic, comparisons,
selects and bit reinterpretation only (fdlibm's reductions and polynomials,
Cephes' rational ``tanh`` near zero), so that once inlined into a loop they
vectorise (``<4 x double>`` on AVX2).

They are not the C library's functions: results differ from ``np.exp``,
``np.log`` and ``np.tanh`` by at most the bounds measured in
``tests/test_vecmath.py`` and documented in docs/user-guide/accuracy.md,
and agree exactly on every special value (NaN, infinities, zeros and their
signs, overflow, underflow, the log of zero and of negatives). The fuser
calls them only when a vmap is built with ``fastmath=True``.

Each takes a float64 (or anything converting to one) and returns a float64;
float32 callers round the result (computing in float64 keeps them within
half an ulp of float32 plus a negligible term).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["exp", "log", "tanh"]

#: Compiled without fastmath (the NaN tests and the rounding trick must stay) and
#: without Python's zero-division checks, which would stop vectorisation; LLVM inlines
#: them into the calling loop, whatever their size.
_FLAGS = dict(fastmath=False, error_model="numpy", forceinline=True, nogil=True)


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64, as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float64 whose IEEE bits are the int64 ``i``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


# exp (fdlibm e_exp.c): x = k ln2 + r, |r| <= ln2/2, exp(r) by a rational form
_LN2_HI = 6.93147180369123816490e-01  # ln2's top bits: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer
_E1, _E2, _E3, _E4, _E5 = (1.66666666666666019037e-01, -2.77777777770155933842e-03,
                           6.61375632143793436117e-05, -1.65339022054652515390e-06,
                           4.13813679705723846039e-08)

# log (fdlibm e_log.c): x = 2**k m, sqrt(2)/2 <= m < sqrt(2), log(m) from s = f / (2 + f)
_L1, _L2, _L3, _L4, _L5, _L6, _L7 = (6.666666666666735130e-01, 3.999999999940941908e-01,
                                     2.857142874366239149e-01, 2.222219843214978396e-01,
                                     1.818357216161805012e-01, 1.531383769920937332e-01,
                                     1.479819860511658591e-01)
_SQRT2 = 1.4142135623730951
_TWO54 = 18014398509481984.0
_TINY = 2.2250738585072014e-308  # the smallest normal float64
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000

# tanh (Cephes tanh.c) for |x| < 0.625: x + x z P(z) / Q(z), z = x**2; beyond,
# (s - 1) / (s + 1) up to 1 and 1 - 2 / (s + 1) above, s = exp(2 |x|)
_P0, _P1, _P2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_Q0, _Q1, _Q2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3


@njit(**_FLAGS)
def exp(x):
    """``e**x`` within the measured bound of ``np.exp``; vectorisable."""
    x = np.float64(x)
    clamped = x if x < 710.0 else 710.0  # NaN too: its result is chosen below
    clamped = clamped if clamped > -746.0 else -746.0
    shifted = clamped * _INV_LN2 + _SHIFTER
    kf = shifted - _SHIFTER
    k = _bits(shifted) - _bits(_SHIFTER)
    hi = clamped - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    z = r * r
    c = r - z * (_E1 + z * (_E2 + z * (_E3 + z * (_E4 + z * _E5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    # 2**k in two exact factors, so that a subnormal result is rounded once
    half = k >> 1
    y = y * _from_bits((half + 1023) << 52) * _from_bits((k - half + 1023) << 52)
    return y if x == x else x + x


@njit(**_FLAGS)
def log(x):
    """The natural logarithm within the measured bound of ``np.log``; vectorisable."""
    x = np.float64(x)
    subnormal = x < _TINY
    scaled = x * _TWO54 if subnormal else x
    bits = _bits(scaled)
    k = ((bits >> 52) & 0x7FF) - (1023 + 54 if subnormal else 1023)
    m = _from_bits((bits & _MANTISSA) | _ONE_BITS)
    above = m > _SQRT2
    m = m * 0.5 if above else m
    dk = np.float64(k + 1 if above else k)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_L1 + w * (_L3 + w * (_L5 + w * _L7))) + w * (_L2 + w * (_L4 + w * _L6))
    hfsq = 0.5 * f * f
    y = dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)
    y = y if x < np.inf else x + x  # +inf and NaN
    y = -np.inf if x == 0.0 else y
    return np.nan if x < 0.0 else y


@njit(**_FLAGS)
def tanh(x):
    """The hyperbolic tangent within the measured bound of ``np.tanh``; vectorisable."""
    x = np.float64(x)
    a = abs(x)
    z = x * x
    near = x + x * z * ((_P0 * z + _P1) * z + _P2) / (((z + _Q0) * z + _Q1) * z + _Q2)
    s = exp(2.0 * (a if a < 22.0 else 22.0))  # tanh(22) is 1.0 in float64
    far = (s - 1.0) / (s + 1.0) if a < 1.0 else 1.0 - 2.0 / (s + 1.0)
    far = far if x > 0.0 else -far
    y = near if a < 0.625 else far
    y = x if a < 3.7252902984e-09 else y  # |x| < 2**-28: x itself, and keeps -0.0
    return y if x == x else x + x
