"""cli/_report.py: the tables and plots a person reads."""
from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from neuralmd.cli._build import Task
from neuralmd.cli._evaluate import evaluate_methods
from neuralmd.cli._report import _fmt, markdown, write_plots, write_tables
from neuralmd.data import synthetic_trajectories
from neuralmd.dynamics import MeanPoseBaseline, RandomWalkBaseline, StaticBaseline


def _results():
    records = synthetic_trajectories(2, seed=1, n_snapshots=8, ligand_atoms=(6, 7), residues=(6, 8))
    task = Task("multi", "syn", [], [], records, start=1)
    methods = {"Static": StaticBaseline(), "MeanPose": MeanPoseBaseline(), "RandomWalk": RandomWalkBaseline()}
    return evaluate_methods(methods, task, 2, torch.device("cpu"), seed=0, samples=2), task


def test_numbers_are_formatted_for_reading():
    assert _fmt(math.nan) == "n/a" and _fmt(math.inf) == "> window"
    assert _fmt(12345.678, "speed") == "12,345.7" and _fmt(0.12345) == "0.123" and _fmt(4.0, "samples") == "4"


def test_tables_files_and_plots(tmp_path):
    results, task = _results()
    text = write_tables(results, task, tmp_path)
    assert text == markdown(results, task) == (tmp_path / "metrics.md").read_text()
    assert "| RandomWalk |" in text and "Best on these snapshots" in text and "Skill vs Static" in text
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 3 * (1 + 2) and {r["complex"] for r in rows} == {"all", *results[0].per_complex}
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert [m["name"] for m in payload["methods"]] == ["Static", "MeanPose", "RandomWalk"]
    assert payload["methods"][0]["overall"]["mae"] == results[0].overall["mae"]
    plots = write_plots(results, task, tmp_path)
    assert plots and all(p.is_file() and p.stat().st_size > 0 for p in plots)


def test_energy_score_by_lag_in_the_results_tables_and_plot(tmp_path):
    from neuralmd import metrics

    results, task = _results()
    static = results[0]
    # per complex: the metric of its ensemble after the start, lag 1 first; the mean curve of the two
    for (cid, curve), ensemble, record in zip(static.per_complex_by_lag.items(), static.ensembles, task.test):
        target = record["ligand"].pos[:, task.start + 1:].transpose(0, 1).double()
        assert curve == pytest.approx(metrics.energy_score_by_lag(ensemble[:, 1:], target).tolist(), rel=1e-12)
        assert sum(curve) / len(curve) == pytest.approx(static.per_complex[cid]["energy_score"], rel=1e-12)
    curves = list(static.per_complex_by_lag.values())
    assert static.energy_score_by_lag == pytest.approx([(a + b) / 2 for a, b in zip(*curves)])
    text = write_tables(results, task, tmp_path)
    assert "Energy score (Å) by lag" in text and "| Method | lag 1 | lag 2 | lag 3 | lag 5 | lag 6 |" in text
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert payload["methods"][0]["energy_score_by_lag"] == pytest.approx(static.energy_score_by_lag)
    assert (write_plots(results, task, tmp_path)[-1]).name == "energy_score_by_lag.png"


def test_complexes_of_unequal_length_enter_the_lags_they_reach():
    from neuralmd.cli._evaluate import MethodResult

    result = MethodResult("m", {}, {}, per_complex_by_lag={"a": [1.0, 2.0, 3.0], "b": [3.0]})
    assert result.energy_score_by_lag == [2.0, 2.0, 3.0]
    assert MethodResult("m", {}, {}).energy_score_by_lag == []


def test_rolling_origins_add_a_lag_table_averaged_over_the_origins(tmp_path):
    from neuralmd import metrics
    from neuralmd.cli import UsageError

    records = synthetic_trajectories(2, seed=1, n_snapshots=12, ligand_atoms=(6, 7), residues=(6, 8))
    task = Task("multi", "syn", [], [], records, start=1)
    results = evaluate_methods({"Static": StaticBaseline(), "RandomWalk": RandomWalkBaseline()}, task, 2,
                               torch.device("cpu"), seed=0, samples=2, rolling=(3, 4))
    static = results[0]
    # origins 1, 4, 7 (7 + 4 = 11, the last snapshot): Static's forecast from an origin is its pose
    for record, curve in zip(records, static.per_complex_rolling_by_lag.values()):
        pos = record["ligand"].pos.double()
        expected = [sum(metrics.energy_score_by_lag(pos[:, o].expand(4, -1, -1).unsqueeze(0),
                                                    pos[:, o + 1:o + 5].transpose(0, 1)).tolist()[lag]
                        for o in (1, 4, 7)) / 3 for lag in range(4)]
        assert curve == pytest.approx(expected, rel=1e-12)
    assert len(static.rolling_energy_score_by_lag) == 4 and static.per_complex_by_lag   # the task's own curves too
    text = write_tables(results, task, tmp_path)
    assert "The same from rolling origins" in text and "| Method | lag 1 | lag 2 | lag 3 | lag 4 |" in text
    assert json.loads((tmp_path / "metrics.json").read_text())["methods"][0]["rolling_energy_score_by_lag"] == \
        pytest.approx(static.rolling_energy_score_by_lag)
    assert "rolling origins" not in markdown(_results()[0], _results()[1])     # off by default
    for bad in ((0, 4), (3, True), (3, "4")):
        with pytest.raises(UsageError, match="rolling origins need"):
            evaluate_methods({"Static": StaticBaseline()}, task, 2, torch.device("cpu"), rolling=bad)
    with pytest.raises(UsageError, match="leaves no origin"):
        evaluate_methods({"Static": StaticBaseline()}, task, 2, torch.device("cpu"), rolling=(3, 11))
