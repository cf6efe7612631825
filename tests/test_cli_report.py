"""cli/_report.py: the tables and plots a person reads."""
from __future__ import annotations

import csv
import json
import math

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
