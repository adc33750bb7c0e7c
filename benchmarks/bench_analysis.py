"""Benchmark of the analysis package: (a) the DeLong benchmark of ``bench_delong.py`` and
(b) the full human-vs-machine comparison of a simulated study.

Run ``python benchmarks/bench_analysis.py`` (``--quick`` skips the DeLong part, ``--repeat N``
times the comparison N times). Goal for (b): 20 readers + 1 model x 1,000 cases x 4 classes with
2,000 patient-clustered bootstrap resamples in under 5 s on a 2-core machine. Wall time and CPU
time are both printed: on a shared machine the wall time includes waiting for the CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis.compare.comparison import compare  # noqa: E402
from analysis.table.longtable import load_long_table  # noqa: E402
from analysis.table.simulate import simulate_long_table  # noqa: E402

GOAL_S = 5.0
LABELS = ("A", "B", "C1", "C2")  # an example four-class ordinal scheme (JIC)


def run_compare_benchmark(*, n_readers: int = 20, n_cases: int = 1000, n_bootstrap: int = 2000,
                          repeat: int = 3, seed: int = 0) -> list[dict]:
    """Time ``compare()`` on a simulated table; print and return the measurements."""
    df = simulate_long_table(labels=LABELS, n_cases=n_cases, n_readers=n_readers, seed=seed)
    t0 = time.perf_counter()
    table = load_long_table(df)
    load_s = time.perf_counter() - t0
    n_groups = None
    print(f"\nFull comparison: {n_readers} simulated readers + 1 model x {table.n_cases} cases "
          f"({table.n_patients} patients) x {len(LABELS)} classes, {n_bootstrap} "
          "patient-clustered bootstrap resamples")
    print(f"  validating the long table ({len(table.reads)} rows): {load_s:.2f} s")
    runs = []
    for i in range(repeat):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = compare(table, n_bootstrap=n_bootstrap, seed=i)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        n_groups = [g.name for g in result.site_groups]
        runs.append({"wall_s": wall, "cpu_s": cpu})
        print(f"  run {i + 1}: wall {wall:.2f} s, CPU {cpu:.2f} s")
    best = min(r["wall_s"] for r in runs)
    print(f"  site groups: {', '.join(n_groups)}; best wall time {best:.2f} s; goal < "
          f"{GOAL_S:g} s: {'met' if best < GOAL_S else 'NOT met'}")
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the DeLong benchmark")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args(argv)
    if not args.quick:
        try:
            from bench_delong import run_delong_benchmark
        except ImportError:
            print("benchmarks/bench_delong.py not found: DeLong benchmark skipped")
        else:
            run_delong_benchmark()
    run_compare_benchmark(n_readers=args.readers, n_cases=args.cases,
                          n_bootstrap=args.bootstrap, repeat=args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
