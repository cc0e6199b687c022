"""``np.max`` and ``np.min`` of a vector in 8 lanes, with the bits of the loop in order.

Numba's ``np.max`` (and a fused body's running ``np.maximum``) walks the
vector one element after another, and each step waits on the compare of the
one before. ``maximum`` and ``minimum`` keep 8 running extremes instead
(element ``k`` in lane ``k % 8``), which do not wait on one another, and
combine them in lane order: the same value. Only two results depend on the
order: an extreme of zero (which sign came first) and NaN (which NaN came
first); for those they walk the vector again in order. Each step is
``np.maximum``'s rule (a NaN first, then ``>=``; ``np.minimum``: ``<=``),
written out.

Fused kernels call them on an argument's row as it is (a view) or on a
scratch copy of a computed vector. They are compiled once per array type:
written into the kernel, the 8 lanes would cost Numba's parallel passes
about a second of compile time per kernel.
"""

from __future__ import annotations

from numba import njit

__all__ = ["maximum", "minimum"]

_FLAGS = dict(fastmath=False, error_model="numpy", nogil=True)
LANES = 8


@njit(inline="always", **_FLAGS)
def _kept_max(running, item):
    return running if running >= item or running != running else item


@njit(inline="always", **_FLAGS)
def _kept_min(running, item):
    return running if running <= item or running != running else item


def _in_lanes(kept):
    """The extreme of a vector of at least 8 elements under the rule ``kept``."""

    @njit(**_FLAGS)
    def extreme(vector):
        n = vector.shape[0]
        stop = n - n % LANES
        l0, l1, l2, l3 = vector[0], vector[1], vector[2], vector[3]
        l4, l5, l6, l7 = vector[4], vector[5], vector[6], vector[7]
        for k in range(LANES, stop, LANES):
            l0, l1 = kept(l0, vector[k]), kept(l1, vector[k + 1])
            l2, l3 = kept(l2, vector[k + 2]), kept(l3, vector[k + 3])
            l4, l5 = kept(l4, vector[k + 4]), kept(l5, vector[k + 5])
            l6, l7 = kept(l6, vector[k + 6]), kept(l7, vector[k + 7])
        result = kept(kept(kept(l0, l1), kept(l2, l3)), kept(kept(l4, l5), kept(l6, l7)))
        for k in range(stop, n):
            result = kept(result, vector[k])
        if result == 0 or result != result:  # the sign of a zero, a NaN's payload
            result = vector[0]
            for k in range(1, n):
                result = kept(result, vector[k])
        return result

    return extreme


maximum = _in_lanes(_kept_max)
minimum = _in_lanes(_kept_min)
