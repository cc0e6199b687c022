"""Realistic per-example functions, as scientists write them for ``vmap``.

Each entry is a per-example function written NumPy-style, its ``in_axes``
and a small batch of inputs (a few examples of a few elements: Numba
compiles each entry once, and compiling is the cost). Every function here
compiles with Numba 0.68 (NumPy features Numba does not compile, such as
``np.mean(x, axis=0)`` or ``np.var(x, ddof=1)``, are written as users then
write them). ``tests/test_corpus.py`` checks each against the plain loop
and measures how many fuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RNG = np.random.default_rng(11)
BATCH = 3


def batch(*shape, positive=False):
    """A float64 batch of ``BATCH`` examples of ``shape``."""
    values = RNG.normal(size=(BATCH, *shape))
    return np.abs(values) + 0.5 if positive else values


def fixed(*shape):
    """One unmapped float64 array of ``shape``."""
    return RNG.normal(size=shape)


@dataclass(frozen=True)
class Case:
    """One corpus entry: the function, its inputs and its ``in_axes``."""

    function: object
    args: tuple
    in_axes: object = 0

    @property
    def name(self) -> str:
        return self.function.__name__


CASES: list[Case] = []


def case(*args, in_axes=0):
    """Register the decorated function with these inputs."""

    def register(function):
        CASES.append(Case(function, args, in_axes))
        return function

    return register


# --- statistics ---------------------------------------------------------------

@case(batch(6))
def normalize(v):
    return v / np.sqrt(np.sum(v * v))


@case(batch(6), 0.3, 1.7, in_axes=(0, None, None))
def zscore_fixed(x, mu, sd):
    return (x - mu) / sd


@case(batch(6))
def zscore(x):
    return (x - np.mean(x)) / np.std(x)


@case(batch(8))
def variance(x):
    return np.var(x)


@case(batch(8))
def standard_deviation(x):
    return x.std()


@case(batch(8))
def sample_variance(x):
    centered = x - x.mean()
    return np.sum(centered**2) / (x.size - 1)


@case(batch(5), batch(5, positive=True))
def weighted_mean(x, w):
    return np.sum(w * x) / np.sum(w)


@case(batch(5), fixed(5), in_axes=(0, None))
def weighted_mean_fixed_weights(x, w):
    return np.dot(w, x) / np.sum(w)


@case(batch(7))
def value_range(x):
    return np.max(x) - np.min(x)


@case(batch(7))
def root_mean_square(x):
    return np.sqrt(np.mean(x**2))


@case(batch(6), batch(6))
def covariance(x, y):
    return np.mean((x - x.mean()) * (y - y.mean()))


@case(batch(6), batch(6))
def correlation(x, y):
    dx = x - np.mean(x)
    dy = y - np.mean(y)
    return np.sum(dx * dy) / np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))


@case(batch(4, 3))
def column_sums(x):
    return np.sum(x, axis=0)


@case(batch(4, 3))
def row_sums(x):
    return x.sum(axis=1)


@case(batch(4, 3))
def center_columns(x):
    return x - np.sum(x, axis=0) / x.shape[0]


@case(batch(7))
def index_of_max(x):
    return np.argmax(x)


@case(batch(7))
def index_of_min(x):
    return x.argmin()


@case(batch(4, 3))
def row_of_column_max(x):
    return np.argmax(x, axis=0)


@case(batch(4, 3), fixed(3), fixed(3) ** 2 + 0.5, in_axes=(0, None, None))
def standardize_columns(x, mu, sd):
    return (x - mu) / sd


@case(batch(9))
def skewness(x):
    d = x - np.mean(x)
    return np.mean(d**3) / np.mean(d**2) ** 1.5


@case(batch(6))
def min_max_scale(x):
    lo = x.min()
    return (x - lo) / (x.max() - lo)


@case(batch(8))
def count_positive(x):
    return np.sum(x > 0)


@case(batch(8))
def has_large(x):
    return np.any(np.abs(x) > 2.0)


# --- machine learning -------------------------------------------------------

@case(batch(6))
def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


@case(batch(6))
def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


@case(batch(6))
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@case(batch(6), fixed(6, 4), fixed(4), in_axes=(0, None, None))
def dense_relu(x, w, b):
    return np.maximum(x @ w + b, 0.0)


@case(batch(6), fixed(6, 4), in_axes=(0, None))
def linear(x, w):
    return x @ w


@case(batch(5), batch(5))
def mean_squared_error(prediction, target):
    return np.mean((prediction - target) ** 2)


@case(batch(4, positive=True), batch(4, positive=True))
def cross_entropy(p, y):
    return -np.sum(y * np.log(p))


@case(batch(5), fixed(5), 0.2, in_axes=(0, None, None))
def logistic(x, w, b):
    return 1.0 / (1.0 + np.exp(-(x @ w + b)))


@case(batch(6), fixed(4, 6), fixed(4), in_axes=(0, None, None))
def tanh_layer(x, w, b):
    return np.tanh(w @ x + b)


@case(batch(5), batch(), fixed(5), in_axes=(0, 0, None))
def hinge_loss(x, y, w):
    return max(0.0, 1.0 - y * np.dot(x, w))


@case(batch(5))
def softplus(x):
    return np.log1p(np.exp(x))


@case(batch(5))
def leaky_relu(x):
    return np.where(x > 0, x, 0.01 * x)


@case(batch(5))
def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


@case(batch(5), fixed(5, 4), fixed(4), fixed(4), in_axes=(0, None, None, None))
def two_layer(x, w1, b1, w2):
    hidden = np.maximum(x @ w1 + b1, 0.0)
    return hidden @ w2


# --- geometry -----------------------------------------------------------------

@case(batch(3, 3), batch(3))
def rotate(r, v):
    return r @ v


@case(batch(3), fixed(3, 3), in_axes=(0, None))
def quadratic_form(x, a):
    return x @ a @ x


@case(batch(3), batch(3))
def cross_product(a, b):
    return np.cross(a, b)


@case(batch(3))
def euclidean_norm(v):
    return np.linalg.norm(v)


@case(batch(4), fixed(4), in_axes=(0, None))
def distance_to(a, b):
    return np.sqrt(np.sum((a - b) ** 2))


@case(batch(3, 3))
def matrix_trace(m):
    return np.trace(m)


@case(batch(3), batch(2))
def outer_product(a, b):
    return np.outer(a, b)


@case(batch(3), batch(3), batch(3))
def triangle_area(a, b, c):
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a))


@case(batch(3), batch(3))
def angle_between(a, b):
    cosine = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.arccos(min(1.0, max(-1.0, cosine)))


@case(batch(3), batch(3))
def project_onto(a, b):
    return (a @ b) / (b @ b) * b


@case(batch(5, 3))
def centroid(points):
    return np.sum(points, axis=0) / points.shape[0]


@case(batch(3), fixed(6, 3), in_axes=(0, None))
def distances_to_set(x, points):
    return np.sqrt(np.sum((points - x) ** 2, axis=1))


@case(batch(2, 2))
def determinant_2x2(m):
    return m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]


@case(batch(3), fixed(3, 3), fixed(3), in_axes=(0, None, None))
def rigid_transform(p, r, t):
    return r @ p + t


@case(batch(4, 2))
def polygon_perimeter(points):
    edges = points[1:] - points[:-1]
    return np.sum(np.sqrt(np.sum(edges**2, axis=1)))


# --- signal processing --------------------------------------------------------

@case(batch(7))
def first_difference(x):
    return np.diff(x)


@case(batch(7))
def sliced_difference(x):
    return x[1:] - x[:-1]


@case(batch(7))
def reverse(x):
    return x[::-1]


@case(batch(7))
def running_total(x):
    return np.cumsum(x)


@case(batch(7))
def moving_average(x):
    return (x[:-2] + x[1:-1] + x[2:]) / 3.0


@case(batch(7))
def clip_unit(x):
    return np.clip(x, -1.0, 1.0)


@case(batch(7))
def energy(x):
    return np.sum(x**2)


@case(batch(8))
def zero_crossings(x):
    return np.sum(x[1:] * x[:-1] < 0)


@case(batch(), fixed(4), in_axes=(0, None))
def horner(t, coefficients):
    total = 0.0
    for k in range(4):
        total = total * t + coefficients[k]
    return total


@case(batch(4, 3))
def first_column(x):
    return x[:, 0]


@case(batch(5, positive=True))
def running_product(x):
    return np.cumprod(x)


@case(batch(7))
def second_difference(x):
    return np.diff(x, n=2)


@case(batch(7))
def peak_normalize(x):
    return x / np.max(np.abs(x))


@case(batch(8), fixed(3), in_axes=(0, None))
def fir_filter(x, taps):
    return taps[0] * x[2:] + taps[1] * x[1:-1] + taps[2] * x[:-2]


# --- physics ------------------------------------------------------------------

@case(batch(3), batch(positive=True))
def kinetic_energy(v, m):
    return 0.5 * m * np.sum(v**2)


@case(batch(3), batch(3))
def gravity(a, b):
    r = b - a
    d = np.sqrt(r @ r)
    return 6.674e-11 * r / d**3


@case(batch(3), 1.5, 0.8, in_axes=(0, None, None))
def spring_energy(x, k, rest):
    return 0.5 * k * (np.linalg.norm(x) - rest) ** 2


@case(batch(), batch(), in_axes=(0, 0))
def oscillator(x, v):
    dt = 0.1
    for _ in range(8):
        v = v - dt * x
        x = x + dt * v
    return x, v


@case(batch(5))
def rectified_energy(x):
    e = np.sum(x)
    if e > 0:
        return e * 2.0
    return -e


@case(batch(5))
def saturated_mean(x):
    m = np.mean(x)
    return min(max(m, -0.5), 0.5)


@case(batch(3, 3))
def symmetric_part(m):
    return 0.5 * (m + m.T)


# --- finance ----------------------------------------------------------------

@case(batch(5), fixed(5), in_axes=(0, None))
def portfolio_return(r, w):
    return w @ r


@case(batch(3, 3), fixed(3), in_axes=(0, None))
def portfolio_variance(cov, w):
    return w @ cov @ w


@case(batch(6, positive=True))
def log_returns(p):
    return np.log(p[1:] / p[:-1])


@case(batch(6) * 0.01)
def compound_growth(r):
    return np.prod(1.0 + r) - 1.0


@case(batch(6, positive=True))
def drawdown_from_peak(p):
    return np.min(p / np.max(p)) - 1.0


@case(batch(8))
def sharpe_ratio(r):
    return np.mean(r) / np.std(r)


@case(batch(6, positive=True) * 100.0, 100.0, 0.03, 0.5, in_axes=(0, None, None, None))
def discounted_call(prices, strike, rate, years):
    return math.exp(-rate * years) * np.mean(np.maximum(prices - strike, 0.0))


@case(batch(3, 4), fixed(4), in_axes=(0, None))
def floor_at_benchmark(x, benchmark):
    return np.where(x > benchmark, x, benchmark)


# Scalar control flow written as loops and branches ---------------------------


@case(batch(5), 0.7, in_axes=(0, None))
def horner_from_int_start(coefficients, t):
    value = 0
    for c in coefficients:
        value = value * t + c
    return value


@case(batch(6))
def standardized_or_centered(x):
    spread = np.std(x)
    if spread > 1.0:
        y = (x - np.mean(x)) / spread
    else:
        y = x - np.mean(x)
    return y


@case(batch(4))
def leaky_total(x):
    total = np.sum(x)
    return total if total > 0 else 0.01 * total


row_norm = case(batch(4))(lambda x: np.sqrt(np.sum(x * x)))
