"""cli/_evaluate.py: the scoring of ``neuralmd evaluate`` (its command: _evaluate_command)."""
from __future__ import annotations

import math

import pytest
import torch

from neuralmd.cli._build import Task
from neuralmd.cli._evaluate import _batches, unique_ids, add_skills, decorrelation, evaluate_methods, score
from neuralmd.data import synthetic_trajectories
from neuralmd.dynamics import LinearBaseline, MeanPoseBaseline, StaticBaseline, StationaryBaseline

RECORDS = synthetic_trajectories(3, seed=0, n_snapshots=8, ligand_atoms=(6, 8), residues=(6, 9))


def test_the_truth_scores_zero_error():
    record = RECORDS[0]
    truth = record["ligand"].pos[:, 2:].transpose(0, 1).double()
    out = score(truth, record, 2)
    assert out["mae"] == 0 and out["energy_score"] == 0 and out["stability"] == 100
    assert out["rmsf_ratio"] == pytest.approx(1.0)


def test_every_method_on_the_same_snapshots_with_skills():
    task = Task("multi", "syn", [], [], RECORDS, start=2)
    methods = {"Static": StaticBaseline(), "MeanPose": MeanPoseBaseline(), "Linear": LinearBaseline(),
               "Stationary": StationaryBaseline()}
    results = evaluate_methods(methods, task, 2, torch.device("cpu"), seed=0, samples=3)
    by_name = {r.name: r for r in results}
    assert by_name["Static"].overall["skill_static"] == 0 and by_name["MeanPose"].overall["skill_meanpose"] == 0
    assert by_name["Stationary"].overall["samples"] == 3 and by_name["Static"].overall["samples"] == 1
    assert [e.shape[:2] for e in by_name["Stationary"].ensembles] == [(3, 6)] * 3
    assert list(by_name["Linear"].per_complex) == [str(r.id) for r in RECORDS]
    again = evaluate_methods({"Stationary": StationaryBaseline()}, task, 3, torch.device("cpu"), seed=0, samples=3)
    assert again[0].overall["energy_score"] == pytest.approx(by_name["Stationary"].overall["energy_score"])


def test_skills_need_their_reference():
    class Result:
        def __init__(self, name, per_complex):
            self.name, self.per_complex = name, {c: {"energy_score": v} for c, v in per_complex.items()}
            self.overall = {"energy_score": sum(per_complex.values()) / len(per_complex)}

    results = [Result("Static", {"a": 1.0, "b": 3.0}), Result("model", {"a": 0.8, "b": 1.2})]
    add_skills(results)
    model = results[1].overall
    assert model["skill_static"] == 0.5 and math.isnan(model["skill_meanpose"])
    assert math.isnan(model["skill_meanpose_low"]) and math.isnan(model["skill_meanpose_high"])
    # the interval over the two complexes: resamples of only a (0.8 / 1), only b (1.2 / 3), or both
    assert model["skill_static_low"] == pytest.approx(0.2) and model["skill_static_high"] == pytest.approx(0.6)


def test_batches_group_equal_lengths_and_ids_are_made_unique():
    short = RECORDS[0].clone()
    short["ligand"].pos = short["ligand"].pos[:, :5]
    assert _batches([RECORDS[0], short, RECORDS[1]], 4) == [[0, 2], [1]]
    assert unique_ids([RECORDS[0], RECORDS[0]]) == [str(RECORDS[0].id), f"{RECORDS[0].id}#2"]


def test_decorrelation_of_frozen_or_short_series_is_undefined():
    assert math.isnan(decorrelation(torch.zeros(2, 10)))
    assert math.isnan(decorrelation(torch.randn(2, 2)))
    series = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)).cumsum(1)
    assert decorrelation(series) > 1
