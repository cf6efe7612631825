"""benchmarks/synthetic_oracle.py: the exact-dynamics forecasts of the bundled data are rebuilt from
the generator (checked against the data), scored like neuralmd train scores, and refuse a record
that is not the trajectory they rebuild."""
import numpy as np
import pytest
import torch

from benchmarks.synthetic_oracle import score_trajectory
from neuralmd.data import synthetic_trajectories
from neuralmd.metrics import mae

OPTIONS = {"n_snapshots": 6, "ligand_atoms": [8, 10], "residues": [20, 22]}


@pytest.fixture(scope="module")
def records():
    return synthetic_trajectories(2, seed=3, **{k: tuple(v) if isinstance(v, list) else v for k, v in OPTIONS.items()})


def test_scores_match_the_evaluation_and_the_oracle_beats_chance(records):
    scores = score_trajectory(records[1], 1, 3, 16, OPTIONS)
    pos = records[1]["ligand"].pos.double().permute(1, 0, 2)
    truth = pos[2:]
    assert scores["Static"] == pytest.approx(mae(pos[1].expand_as(truth), truth))
    assert scores["MeanPose"] == pytest.approx(mae(pos[:2].mean(0).expand_as(truth), truth))
    assert set(scores) == {"Static", "MeanPose", "full state, 16", "full state, 8", "positions only, 16",
                           "positions only, 8", "damped centroid"}
    # four snapshots after the known state: the exact dynamics with the true velocities must be
    # much closer than standing still (the ligand moves ~0.1 Å per snapshot, mostly ballistically)
    assert scores["full state, 16"] < 0.8 * scores["Static"]
    assert all(np.isfinite(v) for v in scores.values())


def test_refuses_a_record_it_does_not_rebuild(records):
    with pytest.raises(RuntimeError, match="snapshot 1 differs"):
        score_trajectory(records[0], 1, 3, 8, OPTIONS)
