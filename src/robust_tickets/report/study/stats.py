"""The statistics of the study, exact where they can be and written out here (scipy is not a
dependency): Wilson intervals, Student's t (its distribution for whole degrees of freedom in
closed form), the exact McNemar test, the exact sign-flip test, Welch's test and the F-test of
variances from summaries (the incomplete beta function by its continued fraction) and Holm's
correction."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from robust_tickets.evaluation.checks import binomial_tail

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
MAX_SIGN_FLIP_SEEDS = 12  # 4,096 sign vectors per test; beyond, the t-test alone


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's 95% interval of a proportion k/n: unlike the normal one it stays inside [0, 1]
    and keeps its coverage near 0 and 1, where sparse networks' robust accuracies can be."""
    if n <= 0:
        return math.nan, math.nan
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def t_inside(t: float, df: int) -> float:
    """P(|T| < t) for Student's T with `df` (whole) degrees of freedom: the finite series of
    Abramowitz & Stegun 26.7.3-4 in theta = atan(t / sqrt(df)), exact up to rounding."""
    if df < 1:
        raise ValueError("Student's t needs at least one degree of freedom")
    t = abs(t)
    if math.isinf(t):
        return 1.0
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2 == 1:
        term = total = math.cos(theta)  # cos, (2/3) cos^3, (2*4)/(3*5) cos^5, ... up to df-2
        if df == 1:
            total = 0.0
        for k in range(1, df - 2, 2):
            term *= (k + 1) / (k + 2) * c2
            total += term
        return min(1.0, 2 / math.pi * (theta + math.sin(theta) * total))
    term = total = 1.0  # 1, (1/2) cos^2, (1*3)/(2*4) cos^4, ... up to df-2
    for k in range(0, df - 2, 2):
        term *= (k + 1) / (k + 2) * c2
        total += term
    return min(1.0, math.sin(theta) * total)


def t_quantile(df: int, level: float = 0.95) -> float:
    """The t such that P(|T| < t) = level (t_{0.975, df} for 95%), by bisection."""
    low, high = 0.0, 1.0
    while t_inside(high, df) < level:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_inside(mid, df) < level else (low, mid)
    return (low + high) / 2


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN with fewer than two values)."""
    if not values:
        return math.nan, math.nan
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% t-interval of the mean over seeds (NaN bounds below 2)."""
    mean, sd = mean_sd(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = t_quantile(len(values) - 1) * sd / math.sqrt(len(values))
    return mean, mean - half, mean + half


def mcnemar(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p on paired outcomes: only the discordant pairs count, and
    without a difference a_only ~ Binomial(a_only + b_only, 1/2)."""
    m = a_only + b_only
    if m == 0:
        return 1.0
    return min(1.0, 2 * binomial_tail(max(a_only, b_only), m, 0.5))


def paired_t(diffs: Sequence[float]) -> tuple[float, float]:
    """(t, two-sided p) of the paired t-test that the mean difference is zero (NaN below 2
    pairs). Identical nonzero differences give t = inf and p NaN: with no spread there is no
    variance to test against, and p = 0 would claim certainty from two or three seeds (the
    sign-flip p, `sign_flip`, still applies)."""
    if len(diffs) < 2:
        return math.nan, math.nan
    mean, sd = mean_sd(diffs)
    if sd == 0:
        return (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), math.nan)
    t = mean / (sd / math.sqrt(len(diffs)))
    return t, max(0.0, 1.0 - t_inside(t, len(diffs) - 1))


def welch_summary(
    mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int
) -> tuple[float, float, float]:
    """(t, Welch-Satterthwaite df, two-sided p) of Welch's test from two samples' summaries
    (a paper gives only mean and std). The p takes the df rounded down, as Student's t is
    computed here for whole degrees of freedom: conservative. NaN below 2 per sample or
    with no spread."""
    if n_a < 2 or n_b < 2:
        return math.nan, math.nan, math.nan
    va, vb = sd_a**2 / n_a, sd_b**2 / n_b
    if va + vb == 0:
        return math.nan, math.nan, math.nan
    t = (mean_a - mean_b) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    return t, df, max(0.0, 1.0 - t_inside(t, max(1, math.floor(df))))


def beta_regularized(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (the CDF of Beta(a, b) at x): its
    continued fraction (modified Lentz), on the side of x where it converges fast."""
    if not 0.0 <= x <= 1.0 or a <= 0 or b <= 0:
        raise ValueError("the incomplete beta needs 0 <= x <= 1 and a, b > 0")
    if x in (0.0, 1.0):
        return x
    if x > (a + 1) / (a + b + 2):
        return 1.0 - beta_regularized(1.0 - x, b, a)
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )  # fmt: skip
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * fraction / a)


def variance_ratio(sd_a: float, n_a: int, sd_b: float, n_b: int) -> tuple[float, float]:
    """(F, two-sided p) of the F-test that two normal samples have equal variances, from their
    standard deviations and sizes (a paper gives only its std over n trials). NaN below 2 per
    sample or with a zero std."""
    if n_a < 2 or n_b < 2 or sd_a <= 0 or sd_b <= 0:
        return math.nan, math.nan
    f = sd_a**2 / sd_b**2
    d1, d2 = n_a - 1, n_b - 1
    below = beta_regularized(d1 * f / (d1 * f + d2), d1 / 2, d2 / 2)  # P(F' <= f)
    return f, min(1.0, 2 * min(below, 1.0 - below))


def sign_flip(diffs: Sequence[float]) -> float:
    """Exact two-sided sign-flip permutation p of the mean paired difference: every one of the
    2^s sign vectors, so with s seeds it can be no smaller than 2 / 2^s (0.25 with 3 seeds)."""
    s = len(diffs)
    if s == 0 or s > MAX_SIGN_FLIP_SEEDS:
        return math.nan
    observed = abs(math.fsum(diffs))
    hits = sum(
        abs(math.fsum(sign * d for sign, d in zip(signs, diffs, strict=True))) >= observed - 1e-12
        for signs in itertools.product((1, -1), repeat=s)
    )
    return hits / 2**s


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN ones are not tests and stay
    NaN): controls the family-wise error rate under any dependence between the tests."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[i] = running
    return adjusted
