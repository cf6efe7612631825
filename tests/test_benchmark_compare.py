"""benchmarks/compare_to_trivial.py: per-test best trivial ensemble, counts and means from rows."""
import json

import pytest

from benchmarks.compare_to_trivial import compare, load


def _row(test, method, seed, energy_score, mae, shift=0.0, task="single"):
    return dict(task=task, test=test, method=method, seed=seed, energy_score=energy_score, mae=mae,
                max_centroid_shift=shift)


def test_compare_picks_the_best_trivial_per_test_and_counts_against_it(tmp_path):
    scores = {"a": dict(Static=1.0, MeanPose=0.8, Stationary=0.5, RandomWalk=0.6),
              "b": dict(Static=1.0, MeanPose=0.9, Stationary=0.7, RandomWalk=0.4)}
    rows = []
    for test, trivial in scores.items():
        for method, es in trivial.items():
            rows.append(_row(test, method, 0, es, es / 2))
        rows.append(_row(test, "Stationary (anisotropic)", 0, trivial["Stationary"], 0.3))
    # the model: two seeds on a (mean 0.45, below Stationary's 0.5), one on b (0.41, 2.5 % above RandomWalk)
    rows += [_row("a", "model", 0, 0.44, 0.2, shift=0.3), _row("a", "model", 42, 0.46, 0.2, shift=0.9),
             _row("b", "model", 0, 0.41, 0.6)]
    rows.append(_row("c", "model", 0, 0.1, 0.1))  # no trivial rows: left out
    rows.append(_row("a", "model", 0, 9.0, 9.0, task="multi"))  # another task: left out
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    text = compare(load([path], "single", set()), ["model"])
    assert "| a |" in text and "| b |" in text and "| c |" not in text
    assert "Stationary 0.500" in text and "RandomWalk 0.400" in text
    assert "below the best trivial ensemble on 1 of 2 tests, within 5 % on 2" in text
    # 0.5-ps criteria: a passes; b fails (MAE 0.6 above Static's 0.5)
    assert "the 0.5-ps criteria on 1;" in text and "displacement of a rollout 0.90" in text
    assert "model 0.4300" in text and "best trivial per test 0.4500" in text
    assert "| b |" not in compare(load([path], "single", {"b"}), ["model"])  # --exclude
    # against each trivial method taken whole: ratio of the means over tests (0.86 / 1.2 against
    # Stationary, 0.86 / 1.0 against RandomWalk), the interval from resamples of the two tests (both a:
    # 0.45 / 0.5; both b: 0.41 / 0.7) and the tests where the model is lower
    assert "Stationary 0.717 [" in text and "RandomWalk 0.860 [" in text
    assert "Stationary 0.717 [0.586, 0.900] (lower on 2)" in text and "(lower on 1)" in text
    # another reference method: a column and an interval of its own; tests without its rows drop out
    rows.append(_row("a", "OU", 0, 0.5, 0.25))
    path.write_text("\n".join(json.dumps(r) for r in rows))
    text = compare(load([path], "single", set()), ["model"], references=("OU",))
    assert "| OU |" in text.splitlines()[0] and "| b |" not in text and "OU 0.900 [0.900, 0.900] (lower on 1)" in text


def test_a_split_with_per_trajectory_scores_is_compared_trajectory_by_trajectory(tmp_path):
    per = {"Static": (1.0, 1.2), "MeanPose": (0.9, 1.1), "Stationary": (0.5, 0.8), "RandomWalk": (0.6, 0.7),
           "Stationary (anisotropic)": (0.5, 0.8), "model": (0.4, 0.9)}
    rows = []
    for method, (x, y) in per.items():
        split = _row("x+y", method, 0, (x + y) / 2, 0.1, task="multi")
        split["per_test"] = {"x": dict(energy_score=x, mae=0.1), "y": dict(energy_score=y, mae=0.1)}
        rows.append(split)
    rows.append(_row("z", "model", 0, 0.1, 0.1, task="multi"))  # an old row without per_test: one test
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    loaded = load([path], "multi", {"y"})
    assert sorted(r["test"] for r in loaded if r["method"] == "model") == ["x", "z"]
    text = compare(load([path], "multi", set()), ["model"])
    # two tests, x and y, each against its own best trivial ensemble (Stationary 0.5 on x, RandomWalk 0.7 on y)
    assert "| x |" in text and "| y |" in text and "| x+y |" not in text
    assert "below the best trivial ensemble on 1 of 2 tests" in text


def test_by_lag_compares_bins_of_lags_paired_over_tests(tmp_path):
    from benchmarks.compare_to_trivial import compare_by_lag, lag_bins

    assert lag_bins(20) == [(1, 1), (2, 3), (4, 7), (8, 15), (16, 20)] and lag_bins(1) == [(1, 1)]
    # the model is better than every trivial method over lags 1-3 and worse after them, on both tests
    flat = {"Static": 1.0, "MeanPose": 0.9, "Stationary": 0.5, "RandomWalk": 0.6, "Stationary (anisotropic)": 0.5}
    rows = []
    for test, scale in (("a", 1.0), ("b", 2.0)):
        for method, level in flat.items():
            rows.append(dict(_row(test, method, 0, level * scale, 0.1), energy_score_by_lag=[level * scale] * 5))
        for seed, early in ((0, 0.2), (42, 0.4)):   # seed mean 0.3 over lags 1-3, then 0.8
            curve = [early * scale] * 3 + [0.8 * scale] * 2
            rows.append(dict(_row(test, "model", seed, sum(curve) / 5, 0.1), energy_score_by_lag=curve))
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    text = compare_by_lag(load([path], "single", set()), ["model"])
    lines = {line.split(" |")[0]: line for line in text.splitlines() if line.startswith("| ")}
    # lag 1: model 0.45 (mean of 0.3 and 0.6) against Stationary 0.75: ratio 0.6 on both tests, lower on 2
    assert lines["| 1"].startswith("| 1 | 0.450 | 1.500 | 1.350 | 0.750 | 0.900 | 0.750 |")
    assert "**0.600** [0.600, 0.600] 2/2" in lines["| 1"]
    # lags 4-5: 1.2 against Stationary's 0.75: 1.6, lower on none, not bold
    assert "| 4-5 | 1.200 |" in text and " 1.600 [1.600, 1.600] 0/2" in lines["| 4-5"]
    no_curves = tmp_path / "old.jsonl"
    no_curves.write_text("\n".join(json.dumps({k: v for k, v in r.items() if k != "energy_score_by_lag"}) for r in rows))
    with pytest.raises(SystemExit, match="lag curves"):
        compare_by_lag(load([no_curves], "single", set()), ["model"])


def test_rolling_rows_give_each_test_the_curve_of_its_origins(tmp_path):
    rows = [dict(_row("a", "Static", 0, 1.0, 0.5), energy_score_by_lag=[1.0, 1.0],
                 rolling=dict(per_test={"a": dict(energy_score_by_lag=[0.2, 0.4], energy_score=0.3)})),
            _row("a", "model", 0, 0.5, 0.5)]                      # no rolling forecasts: left out
    split = dict(_row("x+y", "Static", 0, 1.0, 0.5, task="multi"),
                 rolling=dict(per_test={"x": dict(energy_score_by_lag=[0.1], energy_score=0.1),
                                        "y": dict(energy_score_by_lag=[0.3], energy_score=0.3)}))
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (*rows, split)))
    (single,) = load([path], "single", set(), rolling=True)
    assert single["energy_score_by_lag"] == [0.2, 0.4] and single["method"] == "Static"
    multi = load([path], "multi", {"y"}, rolling=True)
    assert [(r["test"], r["energy_score_by_lag"]) for r in multi] == [("x", [0.1])]
    assert load([path], "single", {"a"}, rolling=True) == []


def test_mean_curves_average_seeds_then_tests_and_plot(tmp_path):
    from benchmarks.compare_to_trivial import mean_curves, plot_by_lag

    rows = [dict(_row("a", "m", 0, 0, 0), energy_score_by_lag=[1.0, 2.0, 9.0]),
            dict(_row("a", "m", 1, 0, 0), energy_score_by_lag=[3.0, 4.0, 9.0]),
            dict(_row("b", "m", 0, 0, 0), energy_score_by_lag=[5.0, 6.0]),
            dict(_row("c", "m", 0, 0, 0), energy_score_by_lag=[7.0, 7.0])]      # no reference rows on c
    rows += [dict(_row(t, "ref", 0, 0, 0), energy_score_by_lag=[1.0, 1.0]) for t in ("a", "b")]
    assert mean_curves(rows, ("m", "ref")) == {"m": [3.5, 4.5], "ref": [1.0, 1.0]}
    rows += [dict(_row(t, name, 0, 0, 0), energy_score_by_lag=[1.0, 1.0]) for t in ("a", "b")
             for name in ("Static", "MeanPose", "Stationary", "RandomWalk")]
    plot_by_lag(rows, ["m"], ("ref",), tmp_path / "lags.png")
    assert (tmp_path / "lags.png").stat().st_size > 0


def test_the_trivial_set_can_be_named_as_the_rows_name_it(tmp_path):
    # rows of a run with reference poses: the trivial methods carry the suffix, and the set that picks
    # the best per test must be given with it
    suffix = ", reference poses"
    rows = [_row("a", f"{m}{suffix}", 0, es, 0.1) for m, es in
            dict(Static=1.0, MeanPose=0.8, Stationary=0.5, RandomWalk=0.6).items()]
    rows += [_row("a", "model", 0, 0.45, 0.1)]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    loaded = load([path], "single", set())
    with pytest.raises(SystemExit, match="no test has rows"):
        compare(loaded, ["model"])
    named = tuple(f"{m}{suffix}" for m in ("Static", "MeanPose", "Stationary", "RandomWalk"))
    text = compare(loaded, ["model"], references=named, trivial=named)
    assert f"Stationary{suffix} 0.500" in text and "below the best trivial ensemble on 1 of 1 tests" in text
