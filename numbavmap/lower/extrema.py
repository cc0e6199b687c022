"""``np.max`` and ``np.min`` of a vector as integer reductions, with the bits of the loop in order.

Numba's ``np.max`` (and a fused body's running ``np.maximum``) walks the
vector one element after another, and each step waits on the compare of the
one before; LLVM does not vectorise a float max without fastmath.
``maximum`` and ``minimum`` reduce integers instead, which LLVM vectorises
(8 or 16 lanes) with no fastmath: an integer vector as it is, a float
vector through *keys*, its bits with the magnitude bits flipped where the
sign bit is set. Keys order as the floats do (``-0.0`` just below ``0.0``)
and the key of the extreme is the extreme's bits. Only two results depend
on the order: an extreme of zero (which sign came first) and NaN (which NaN
came first; a NaN's magnitude bits are above infinity's); for those they
walk the vector again by ``np.maximum``'s rule (a NaN first, then ``>=``;
``np.minimum``: ``<=``), in order.

Fused kernels call them on an argument's row as it is (a view) or on a
scratch copy of a computed vector. They are compiled once per array type:
written into the kernel, the reductions would cost Numba's parallel passes
compile time in every kernel.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = ["maximum", "minimum"]

_FLAGS = dict(fastmath=False, error_model="numpy", nogil=True)


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float32 or float64, as a signed integer as wide."""
    if not isinstance(x, types.Float):
        return None
    width = x.bitwidth

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(width))

    return types.Integer.from_bitwidth(width)(x), codegen


@intrinsic
def _float(typingctx, bits, like):
    """The float of ``like``'s type whose IEEE bits are the low bits of ``bits``
    (Numba computes on float32 keys in int64)."""
    def codegen(context, builder, signature, args):
        width = like.bitwidth
        low = builder.trunc(args[0], ir.IntType(width)) if bits.bitwidth > width else args[0]
        return builder.bitcast(low, context.get_value_type(like))

    return like(bits, like), codegen


@njit(inline="always", **_FLAGS)
def _kept_max(running, item):
    return running if running >= item or running != running else item


@njit(inline="always", **_FLAGS)
def _kept_min(running, item):
    return running if running <= item or running != running else item


def _in_order(kept):
    """The extreme of a non-empty vector under the rule ``kept``, element by element."""

    @njit(**_FLAGS)
    def extreme(vector):
        result = vector[0]
        for k in range(1, vector.shape[0]):
            result = kept(result, vector[k])
        return result

    return extreme


def _integer_reduction(is_max):
    """The extreme of a non-empty integer vector: any order gives the same value."""

    @njit(**_FLAGS)
    def extreme(vector):
        result = vector[0]
        for k in range(vector.shape[0]):  # from 0: whole vectors of lanes
            item = vector[k]
            result = (item if item > result else result) if is_max else (
                item if item < result else result)
        return result

    return extreme


def _key_reduction(width, is_max, in_order):
    """The extreme of a non-empty vector of ``width``-bit floats, through keys;
    ``in_order`` where the result is a zero or a NaN."""
    magnitude = (1 << (width - 1)) - 1  # all bits but the sign
    infinity = {32: 0x7F800000, 64: 0x7FF0000000000000}[width]
    start = -magnitude - 1 if is_max else magnitude  # below (above) every key

    @njit(**_FLAGS)
    def extreme(vector):
        result, largest_magnitude = start, 0
        for k in range(vector.shape[0]):
            bits = _bits(vector[k])
            key = bits ^ ((bits >> (width - 1)) & magnitude)
            result = (key if key > result else result) if is_max else (
                key if key < result else result)
            largest_magnitude = max(largest_magnitude, bits & magnitude)
        if largest_magnitude > infinity or result == 0 or result == -1:  # NaN or zero
            return in_order(vector)
        return _float(result ^ ((result >> (width - 1)) & magnitude), vector[0])

    return extreme


def _extreme(name, is_max, kept):
    """``maximum`` or ``minimum``: a jitted function of a non-empty vector."""
    in_order = _in_order(kept)
    integers = _integer_reduction(is_max)
    floats = {width: _key_reduction(width, is_max, in_order) for width in (32, 64)}

    def typed(vector):
        raise NotImplementedError(f"extrema.{name} is called from jitted code")

    @overload(typed, jit_options=_FLAGS)
    def _by_dtype(vector):
        dtype = vector.dtype
        if isinstance(dtype, types.Float) and dtype.bitwidth in floats:
            impl = floats[dtype.bitwidth]
        else:
            impl = integers if isinstance(dtype, types.Integer) else in_order
        return lambda vector: impl(vector)

    def extreme(vector):
        return typed(vector)

    extreme.__name__ = extreme.__qualname__ = name
    extreme.__doc__ = f"``np.{name[:3]}`` of a non-empty vector: ``np.{name}``'s loop, its bits."
    return njit(**_FLAGS)(extreme)


maximum = _extreme("maximum", True, _kept_max)
minimum = _extreme("minimum", False, _kept_min)
