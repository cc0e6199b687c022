"""The error of ``numbavmap.lower.vecmath`` against NumPy, in ulps, over the whole range.

Run ``python -m asv_benchmarks.vecmath_accuracy [samples]`` for the sweep that
docs/user-guide/accuracy.md quotes (default 10,000,000 per region);
``tests/test_vecmath.py`` runs the same regions with a few thousand samples
and asserts the documented bounds. Each function is compared on:

* ``bits``: uniformly random bit patterns, i.e. every binade of the finite
  floats (negative inputs included, where ``log`` must give NaN), subnormals
  among them;
* the intervals where the result is neither 0, 1 nor infinite, sampled
  uniformly;
* float32: random float32 bit patterns, rounded as the fuser rounds them;
* ``SPECIAL``: NaN, infinities, signed zeros, subnormals, the overflow and
  underflow thresholds, where the result must equal NumPy's bit for bit
  (any NaN matching any NaN).
"""

from __future__ import annotations

import sys

import numba
import numpy as np

from numbavmap.lower import vecmath

#: Uniform intervals per function, beside the random bit patterns.
INTERVALS = {
    "exp": [(-745.2, 709.8), (-1.0, 1.0), (-1e-8, 1e-8)],
    "log": [(0.0, 4.0), (0.5, 2.0), (1.0 - 1e-6, 1.0 + 1e-6), (0.0, 1e-300)],
    "tanh": [(-22.0, 22.0), (-1.0, 1.0), (0.6, 1.1), (-1e-8, 1e-8)],
}

#: Inputs whose results must match NumPy's exactly, per function: NaN, infinities,
#: signed zeros, subnormals, the largest float, the thresholds and branch points.
_EVERY = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 5e-324, -5e-324, 1e-310,
          2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308]
SPECIAL = {
    "exp": np.array(_EVERY + [709.782712893384, 709.7827128933841, -745.1332191019411,
                              -745.1332191019412, -1e-17, 1e-17]),
    "log": np.array(_EVERY + [1.0]),
    "tanh": np.array(_EVERY + [22.0, -22.0, 40.0, -40.0, 3.7252902984e-09, -1e-300]),
}


def _looped(function):
    @numba.njit(error_model="numpy")
    def apply(x):
        out = np.empty_like(x)
        for k in range(x.size):
            out[k] = function(x[k])
        return out
    return apply


#: Each function applied over a float64 array (a float32 array: computed in
#: float64, stored as float32, as the fuser does), compiled once per dtype.
LOOPS = {name: _looped(getattr(vecmath, name)) for name in vecmath.__all__}
#: The C library's float32 functions as Numba calls them, over a float32 array.
LIBM32 = {name: _looped(getattr(np, name)) for name in vecmath.__all__}


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many float64 values lie between ``a`` and ``b`` (0 when equal, -0.0 == 0.0)."""
    def ordered(x):
        bits = x.view(np.int64)
        return np.where(bits < 0, np.int64(-2**63) - bits, bits)
    return np.abs(ordered(a) - ordered(b))


def max_ulps(name: str, x: np.ndarray) -> int:
    """The largest error of ``vecmath.<name>`` on ``x`` against ``np.<name>``;
    raises when one gives NaN where the other does not."""
    got = LOOPS[name](x)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(x)
    nan = np.isnan(want)
    if not np.array_equal(nan, np.isnan(got)):
        raise AssertionError(f"{name}: NaN at other inputs than NumPy, e.g. "
                             f"{x[nan != np.isnan(got)][:3]}")
    return int(ulps(got[~nan], want[~nan]).max(initial=0))


def float32_max_ulps(name: str, count: int, seed: int = 0) -> dict:
    """The largest error, in float32 ulps over random finite float32 bit patterns,
    of ``vecmath.<name>`` rounded to float32 against the C library's float32
    function (``"libm"``) and against NumPy's float64 result rounded to float32
    (``"float64 rounded"``)."""
    bits = np.random.default_rng(seed).integers(0, 2**32, count, dtype=np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    with np.errstate(all="ignore"):
        rounded = getattr(np, name)(x.astype(np.float64)).astype(np.float32)
    got = LOOPS[name](x)
    nan = np.isnan(rounded)
    errors = {}
    for reference, want in (("libm", LIBM32[name](x)), ("float64 rounded", rounded)):
        if not np.array_equal(nan, np.isnan(want)) or not np.array_equal(nan, np.isnan(got)):
            raise AssertionError(f"{name}: float32 NaN at other inputs than {reference}")
        ordered = [np.where(v < 0, np.int64(-2**31) - v, v)
                   for v in (got[~nan].view(np.int32).astype(np.int64),
                             want[~nan].view(np.int32).astype(np.int64))]
        errors[reference] = int(np.abs(ordered[0] - ordered[1]).max(initial=0))
    return errors


def samples(name: str, count: int, seed: int = 0) -> dict:
    """Region name -> ``count`` inputs of ``name``: random finite bit patterns and
    each interval of ``INTERVALS``."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**64, count, dtype=np.uint64, endpoint=False).view(np.float64)
    regions = {"bits": bits[np.isfinite(bits)]}
    for low, high in INTERVALS[name]:
        regions[f"[{low:g}, {high:g}]"] = rng.uniform(low, high, count)
    return regions


def special_mismatches(name: str) -> list:
    """The special inputs where ``vecmath.<name>`` differs from ``np.<name>`` (bits,
    sign included; any NaN equals any NaN)."""
    x = SPECIAL[name]
    got = LOOPS[name](x)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(x)
    same = (got.view(np.int64) == want.view(np.int64)) | (np.isnan(got) & np.isnan(want))
    return [float(value) for value in x[~same]]


def main(count: int) -> None:
    """Print the largest error per function and region, and special-value mismatches."""
    for name in vecmath.__all__:
        for region, x in samples(name, count).items():
            print(f"{name:5} {region:24} max {max_ulps(name, x)} ulp over {x.size:,} inputs")
        print(f"{name:5} special values: {special_mismatches(name) or 'all equal'}")
        print(f"{name:5} float32 bits: max float32 ulps {float32_max_ulps(name, count)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
