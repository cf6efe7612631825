"""One learned method against the trivial predictors, test by test, from ``benchmarks.accuracy`` rows.

For every test trajectory (or complex) of the given task: each method's energy score averaged over
its seeds, the best of the issue's trivial set (Static, MeanPose, Stationary, RandomWalk) picked per
test, and the ratio of each compared method to it. Then, over the tests every compared method has
rows for: how often each is below the best trivial ensemble and within 5 % of it, the mean over tests
of every method (and of the per-test best, a choice no forecaster can make in advance), and the
issue's 0.5-ps criteria per test (energy score within 5 % of the best trivial's and at least 30 %
below Static's, ensemble-mean MAE below Static's), with the largest centroid displacement of any
sampled rollout from its start.

Each test is one forecast (a trajectory or complex), so a per-test verdict carries that forecast's
noise: against each trivial method taken whole (a choice a forecaster can make in advance, unlike the
per-test best), the ratio of the mean energy scores over the tests is given with a 95 % bootstrap
interval that resamples the tests (paired: a resample draws a test for both methods;
:func:`neuralmd.metrics.paired_ratio_interval`, seeded). Rows of a multi-trajectory split that carry
each trajectory's scores count each trajectory as a test; older rows count the split as one.

    python benchmarks/compare_to_trivial.py ROWS.jsonl [MORE.jsonl ...] --methods "METHOD" ["OTHER" ...] \\
        [--task single] [--exclude T4L_02]
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from neuralmd.metrics import paired_ratio_interval

#: The trivial set of issue 11 (the anisotropic Stationary is shown beside it, not part of it).
TRIVIAL = ("Static", "MeanPose", "Stationary", "RandomWalk")
SHOWN = TRIVIAL + ("Stationary (anisotropic)",)


def load(paths: list[Path], task: str, exclude: set[str]) -> list[dict]:
    """The rows of ``task`` whose test is not excluded. A row of a multi-trajectory split that carries
    each trajectory's scores (``per_test``, written by ``benchmarks.accuracy`` since 2026-11-27)
    becomes one row per trajectory, so that the comparison pairs trajectories, not splits."""
    rows = []
    for path in paths:
        with open(path) as f:
            for r in map(json.loads, f):
                if r["task"] != task:
                    continue
                per_test = r.get("per_test") or {}
                parts = [dict(r, test=name, **scores) for name, scores in per_test.items()] if len(per_test) > 1 else [r]
                rows += [part for part in parts if part["test"] not in exclude]
    return rows


def seed_means(rows: list[dict], key: str) -> dict[tuple[str, str], float]:
    """(test, method) -> the mean of ``key`` over that method's seeds on that test."""
    values = defaultdict(list)
    for r in rows:
        values[(r["test"], r["method"])].append(r[key])
    return {k: statistics.mean(v) for k, v in values.items()}


def compare(rows: list[dict], methods: list[str], *, references: tuple[str, ...] = SHOWN) -> str:
    """The tables and summary lines; ``references``: the reference methods shown (the issue's trivial
    set, which picks the per-test best, is always among them)."""
    shown = tuple(dict.fromkeys((*TRIVIAL, *references)))
    es, mae = seed_means(rows, "energy_score"), seed_means(rows, "mae")
    tests = sorted({t for t, m in es if all((t, x) in es for x in (*shown, *methods))})
    if not tests:
        raise SystemExit("no test has rows of every reference method and of every compared method")
    best = {t: min(TRIVIAL, key=lambda m: es[(t, m)]) for t in tests}
    lines = ["| test | " + " | ".join(shown) + " | " + " | ".join(methods) + " | best trivial | "
             + " | ".join(f"ratio ({i + 1})" for i in range(len(methods))) + " |",
             "|---" * (len(shown) + 2 * len(methods) + 2) + "|"]
    for t in tests:
        b = es[(t, best[t])]
        lines.append(f"| {t} | " + " | ".join(f"{es[(t, m)]:.3f}" for m in (*shown, *methods))
                     + f" | {best[t]} {b:.3f} | " + " | ".join(f"{es[(t, m)] / b:.3f}" for m in methods) + " |")
    lines.append("")
    for i, m in enumerate(methods):
        ratios = [es[(t, m)] / es[(t, best[t])] for t in tests]
        criteria = [t for t in tests if es[(t, m)] <= 1.05 * es[(t, best[t])] and es[(t, m)] <= 0.7 * es[(t, "Static")]
                    and mae[(t, m)] < mae[(t, "Static")]]
        shift = max((r.get("max_centroid_shift") or 0.0) for r in rows if r["method"] == m and r["test"] in tests)
        lines.append(f"({i + 1}) {m}: below the best trivial ensemble on {sum(x < 1 for x in ratios)} of {len(tests)} "
                     f"tests, within 5 % on {sum(x <= 1.05 for x in ratios)}; median ratio "
                     f"{statistics.median(ratios):.3f}; the 0.5-ps criteria on {len(criteria)}; largest centroid "
                     f"displacement of a rollout {shift:.2f} Å")
        model = [es[(t, m)] for t in tests]
        against = []
        for other in shown:
            reference = [es[(t, other)] for t in tests]
            ratio, low, high = paired_ratio_interval(model, reference)
            wins = sum(a < b for a, b in zip(model, reference))
            against.append(f"{other} {ratio:.3f} [{low:.3f}, {high:.3f}] (lower on {wins})")
        lines.append(f"    mean energy score over that of each trivial method, 95 % bootstrap interval over the "
                     f"tests: " + "; ".join(against))
    means = {m: statistics.mean(es[(t, m)] for t in tests) for m in (*shown, *methods)}
    means["best trivial per test"] = statistics.mean(es[(t, best[t])] for t in tests)
    lines.append("mean energy score over the tests: " + ", ".join(f"{m} {v:.4f}" for m, v in means.items()))
    lines.append("mean ensemble-mean MAE over the tests: "
                 + ", ".join(f"{m} {statistics.mean(mae[(t, m)] for t in tests):.4f}" for m in ("Static", *methods)))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="+", type=Path, help="benchmarks.accuracy JSONL files")
    parser.add_argument("--methods", nargs="+", required=True, help="the learned methods to compare (row names)")
    parser.add_argument("--task", default="single")
    parser.add_argument("--exclude", nargs="*", default=[], help="tests to leave out (e.g. a validation trajectory)")
    parser.add_argument("--references", nargs="+", default=list(SHOWN),
                        help="reference methods to show beside the issue's trivial set (default: %(default)s)")
    args = parser.parse_args()
    print(compare(load(args.rows, args.task, set(args.exclude)), args.methods, references=tuple(args.references)))


if __name__ == "__main__":
    main()
