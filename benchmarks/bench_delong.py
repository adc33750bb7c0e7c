"""Fast (midrank, Sun & Xu 2014) vs naive O(m n) DeLong: paired test of two scores.

Run ``python benchmarks/bench_delong.py``; ``run_delong_benchmark()`` prints the same table and
returns the measurements (used by ``benchmarks/bench_analysis.py``). Goal: n = 1,000,000 cases
in under 1 s with memory linear in n. The naive method is skipped where its m x n kernel matrix
of float64 would exceed ``NAIVE_LIMIT_BYTES``.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.roc.auc import delong_covariance  # noqa: E402

NAIVE_LIMIT_BYTES = 2e9


def naive_delong_covariance(y: np.ndarray, scores: np.ndarray):
    """DeLong (1988) straight from the m x n kernel matrix psi(X_i, Y_j): O(m n) time and
    memory. For comparison only."""
    aucs, v10, v01 = [], [], []
    for s in scores:
        x, z = s[y], s[~y]
        psi = (x[:, None] > z[None, :]).astype(float)
        psi += 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        del psi
    v10, v01 = np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    return np.array(aucs), np.cov(v10) / m + np.cov(v01) / n


def _data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.5
    latent = rng.normal(size=n) + 1.2 * y
    s1 = latent + rng.normal(scale=0.8, size=n)
    s2 = np.round(latent + rng.normal(scale=1.0, size=n), 2)  # a rounded score: many ties
    return y, np.vstack([s1, s2])


def _best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _z(aucs, cov) -> float:
    return float((aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))


def run_delong_benchmark(sizes=(1_000, 10_000, 100_000), big: int = 1_000_000) -> list[dict]:
    """Print and return timings of the fast and naive paired DeLong computation."""
    print("DeLong covariance of two scores on the same cases (paired test)")
    print(f"{'n':>10} {'fast s':>10} {'naive s':>10} {'speed-up':>9} {'max |z diff|':>13}")
    results = []
    for n in sizes:
        y, s = _data(n)
        m = int(y.sum())
        fast = _best_time(lambda y=y, s=s: delong_covariance(y, s), 3)
        row = {"n": n, "fast_s": fast, "naive_s": None, "z_diff": None}
        if m * (n - m) * 8 > NAIVE_LIMIT_BYTES:
            print(f"{n:>10} {fast:10.4f} {'skipped':>10} {'-':>9} {'-':>13}")
        else:
            naive = _best_time(lambda y=y, s=s: naive_delong_covariance(y, s), 1)
            zf = _z(*delong_covariance(y, s))
            zn = _z(*naive_delong_covariance(y, s))
            row.update(naive_s=naive, z_diff=abs(zf - zn))
            print(f"{n:>10} {fast:10.4f} {naive:10.4f} {naive / fast:9.1f} {abs(zf - zn):13.2e}")
        results.append(row)

    y, s = _data(big)
    elapsed = _best_time(lambda: delong_covariance(y, s), 3)
    tracemalloc.start()
    delong_covariance(y, s)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    input_bytes = y.nbytes + s.nbytes
    print(
        f"fast at n = {big:,}: {elapsed:.3f} s (best of 3), peak extra memory "
        f"{peak / 2**20:.1f} MiB = {peak / big:.0f} bytes per case "
        f"(inputs {input_bytes / 2**20:.1f} MiB); goal < 1 s: "
        f"{'met' if elapsed < 1 else 'NOT met'}"
    )
    results.append({"n": big, "fast_s": elapsed, "peak_bytes": peak, "bytes_per_case": peak / big})
    return results


if __name__ == "__main__":
    run_delong_benchmark()
