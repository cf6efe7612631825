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

With ``--by-lag`` (rows made since the energy score by lag was added) the same paired comparison
runs lag by lag instead, over bins of lags that double in width (1, 2-3, 4-7, 8-15, ...: the mean
energy score over a bin's lags, per test): where in the horizon the method beats each trivial
method and where it does not.

    python benchmarks/compare_to_trivial.py ROWS.jsonl [MORE.jsonl ...] --methods "METHOD" ["OTHER" ...] \\
        [--task single] [--exclude T4L_02] [--by-lag] [--rolling]

``--rolling`` reads the rows' rolling-origin forecasts instead (``benchmarks.accuracy
--rolling-every``): each test's curve is then the mean over its origins.
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


def load(paths: list[Path], task: str, exclude: set[str], *, rolling: bool = False) -> list[dict]:
    """The rows of ``task`` whose test is not excluded. A row of a multi-trajectory split that carries
    each trajectory's scores (``per_test``, written by ``benchmarks.accuracy`` since 2026-11-27)
    becomes one row per trajectory, so that the comparison pairs trajectories, not splits. With
    ``rolling``, each trajectory's scores are those of its rolling-origin forecasts (``rolling``,
    ``benchmarks.accuracy --rolling-every``); rows without them are left out."""
    rows = []
    for path in paths:
        with open(path) as f:
            for r in map(json.loads, f):
                if r["task"] != task or (rolling and "rolling" not in r):
                    continue
                per_test = r["rolling"]["per_test"] if rolling else r.get("per_test") or {}
                if rolling and len(per_test) == 1:   # a single task: the row's own test
                    (scores,) = per_test.values()
                    rows += [dict(r, **scores)] if r["test"] not in exclude else []
                    continue
                parts = [dict(r, test=name, **scores) for name, scores in per_test.items()] if len(per_test) > 1 else [r]
                rows += [part for part in parts if part["test"] not in exclude]
    return rows


def seed_means(rows: list[dict], key: str) -> dict[tuple[str, str], float]:
    """(test, method) -> the mean of ``key`` over that method's seeds on that test."""
    values = defaultdict(list)
    for r in rows:
        values[(r["test"], r["method"])].append(r[key])
    return {k: statistics.mean(v) for k, v in values.items()}


def compare(rows: list[dict], methods: list[str], *, references: tuple[str, ...] = SHOWN,
            trivial: tuple[str, ...] = TRIVIAL) -> str:
    """The tables and summary lines; ``references``: the reference methods shown (the issue's trivial
    set ``trivial``, which picks the per-test best, is always among them; its first method is Static,
    the 0.5-ps criteria's reference)."""
    shown = tuple(dict.fromkeys((*trivial, *references)))
    static = trivial[0]
    es, mae = seed_means(rows, "energy_score"), seed_means(rows, "mae")
    tests = sorted({t for t, m in es if all((t, x) in es for x in (*shown, *methods))})
    if not tests:
        raise SystemExit("no test has rows of every reference method and of every compared method")
    best = {t: min(trivial, key=lambda m: es[(t, m)]) for t in tests}
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
        criteria = [t for t in tests if es[(t, m)] <= 1.05 * es[(t, best[t])] and es[(t, m)] <= 0.7 * es[(t, static)]
                    and mae[(t, m)] < mae[(t, static)]]
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
                 + ", ".join(f"{m} {statistics.mean(mae[(t, m)] for t in tests):.4f}" for m in (static, *methods)))
    return "\n".join(lines)


def lag_bins(longest: int) -> list[tuple[int, int]]:
    """Bins of lags ``[a, b]`` (1-based, inclusive) that double in width up to ``longest``: (1, 1),
    (2, 3), (4, 7), ..., the last one cut at ``longest``.

    >>> lag_bins(20)
    [(1, 1), (2, 3), (4, 7), (8, 15), (16, 20)]
    """
    bins, a = [], 1
    while a <= longest:
        bins.append((a, min(2 * a - 1, longest)))
        a *= 2
    return bins


def lag_curves(rows: list[dict]) -> dict[tuple[str, str], list[list[float]]]:
    """(test, method) -> the energy score by lag of each of its seeds' rows (rows without one left out)."""
    curves = defaultdict(list)
    for r in rows:
        if r.get("energy_score_by_lag"):
            curves[(r["test"], r["method"])].append(r["energy_score_by_lag"])
    return curves


def mean_curves(rows: list[dict], methods: tuple[str, ...]) -> dict[str, list[float]]:
    """Each method's energy score by lag, averaged over its seeds per test and then over the tests
    that every one of ``methods`` has curves for (cut to the shortest curve)."""
    curves = lag_curves(rows)
    tests = sorted({t for t, _ in curves if all((t, m) in curves for m in methods)})
    longest = min(len(c) for t in tests for m in methods for c in curves[(t, m)])
    per_test = {(t, m): [statistics.mean(c[lag] for c in curves[(t, m)]) for lag in range(longest)]
                for t in tests for m in methods}
    return {m: [statistics.mean(per_test[(t, m)][lag] for t in tests) for lag in range(longest)] for m in methods}


def plot_by_lag(rows: list[dict], methods: list[str], references: tuple[str, ...], path: Path, *,
                trivial: tuple[str, ...] = TRIVIAL) -> None:
    """The mean energy score by lag of the compared methods and the references (log lag axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = tuple(dict.fromkeys((*methods, *trivial, *references)))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for j, (name, curve) in enumerate(mean_curves(rows, shown).items()):
        ax.plot(range(1, len(curve) + 1), curve, lw=2.2 if name in methods else 1.2,
                ls="-" if name in methods else ("--", ":", "-.")[j % 3], label=name)
    ax.set_xscale("log")
    ax.set_xlabel("lag (snapshots after the origin)")
    ax.set_ylabel("energy score (Å), mean over the tests")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    print(f"wrote {path}")


def compare_by_lag(rows: list[dict], methods: list[str], *, references: tuple[str, ...] = SHOWN,
                   trivial: tuple[str, ...] = TRIVIAL) -> str:
    """Per compared method, one table: for each bin of lags (:func:`lag_bins`), the mean over the tests
    of every method's energy score over the bin, and the compared method's ratio to each reference with
    its paired 95 % bootstrap interval over the tests and the number of tests where it is lower."""
    shown = tuple(dict.fromkeys((*trivial, *references)))
    curves = lag_curves(rows)
    tests = sorted({t for t, _ in curves if all((t, x) in curves for x in (*shown, *methods))})
    if not tests:
        raise SystemExit("no test has lag curves (rows with energy_score_by_lag) of every reference and compared method")
    longest = min(len(c) for v in curves.values() for c in v)

    def binned(test: str, method: str, lo: int, hi: int) -> float:
        """The seed mean of the method's mean energy score over lags lo..hi on the test."""
        return statistics.mean(statistics.mean(c[lo - 1:hi]) for c in curves[(test, method)])

    bins = lag_bins(longest)
    lines = [f"{len(tests)} tests, lags 1-{longest}; ratio = mean over the tests of the method's energy score "
             "over the bin / the reference's, [95 % paired bootstrap interval], tests lower / all"]
    for m in methods:
        lines += ["", f"model: {m}", "",
                  "| lags | model | " + " | ".join(shown) + " | " + " | ".join(f"ratio to {x}" for x in shown) + " |",
                  "|---" * (2 * len(shown) + 2) + "|"]
        for lo, hi in bins:
            mine = [binned(t, m, lo, hi) for t in tests]
            cells = [f"{statistics.mean(mine):.3f}"]
            ratios = []
            for other in shown:
                reference = [binned(t, other, lo, hi) for t in tests]
                cells.append(f"{statistics.mean(reference):.3f}")
                ratio, low, high = paired_ratio_interval(mine, reference)
                mark = "**" if high < 1 else ""
                ratios.append(f"{mark}{ratio:.3f}{mark} [{low:.3f}, {high:.3f}] "
                              f"{sum(a < b for a, b in zip(mine, reference))}/{len(tests)}")
            label = f"{lo}" if lo == hi else f"{lo}-{hi}"
            lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
        lines.append("(bold: the whole interval below 1)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="+", type=Path, help="benchmarks.accuracy JSONL files")
    parser.add_argument("--methods", nargs="+", required=True, help="the learned methods to compare (row names)")
    parser.add_argument("--task", default="single")
    parser.add_argument("--exclude", nargs="*", default=[], help="tests to leave out (e.g. a validation trajectory)")
    parser.add_argument("--references", nargs="+", default=list(SHOWN),
                        help="reference methods to show beside the issue's trivial set (default: %(default)s)")
    parser.add_argument("--trivial", nargs="+", default=list(TRIVIAL),
                        help="the issue's trivial set as these rows name it, e.g. with ', reference poses', "
                             "Static's name first (default: %(default)s)")
    parser.add_argument("--by-lag", action="store_true",
                        help="compare over bins of lags after the start instead of the whole horizon")
    parser.add_argument("--rolling", action="store_true",
                        help="the rows' rolling-origin forecasts (benchmarks.accuracy --rolling-every) instead of "
                             "the task's one forecast per test")
    parser.add_argument("--plot", type=Path, default=None,
                        help="with --by-lag: write the mean energy score by lag of every method shown here")
    args = parser.parse_args()
    if args.plot and not args.by_lag:
        parser.error("--plot draws the lag curves: add --by-lag")
    if args.rolling and not args.by_lag:   # the rows' MAE and criteria belong to the task's forecast, not these
        parser.error("--rolling compares lag curves: add --by-lag")
    rows = load(args.rows, args.task, set(args.exclude), rolling=args.rolling)
    table = compare_by_lag if args.by_lag else compare
    print(table(rows, args.methods, references=tuple(args.references), trivial=tuple(args.trivial)))
    if args.plot:
        plot_by_lag(rows, args.methods, tuple(args.references), args.plot, trivial=tuple(args.trivial))


if __name__ == "__main__":
    main()
