"""cli/_build.py: devices, model configs, splits and tasks."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from neuralmd.cli import UsageError
from neuralmd.cli._build import (_split_fractions, build_model, build_task, has_parameters, model_config,
                                 multi_start, resolve_device, time_split)
from neuralmd.data import synthetic_trajectories
from neuralmd.dynamics import NeuralMD, StaticBaseline


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match="device must be auto, cpu or cuda"):
        resolve_device("tpu")
    with pytest.raises(UsageError, match="threads must be at least 1"):
        resolve_device("cpu", 0)


def test_models_come_from_their_configs():
    model, name = build_model("neuralmd_ode")
    assert isinstance(model, NeuralMD) and name == "NeuralMD ODE" and model.method == "midpoint"
    assert has_parameters(model) and not has_parameters(build_model("static")[0])
    assert isinstance(build_model({"_target_": "neuralmd.dynamics.StaticBaseline"})[0], StaticBaseline)
    assert model_config("neuralmd_langevin")["training_loss"] == "energy"
    with pytest.raises(UsageError, match="unknown model 'transformer'; choose from"):
        model_config("transformer")
    with pytest.raises(UsageError, match="cannot build model 'NeuralMD ODE': .*hiden"):
        build_model({**model_config("neuralmd_ode"), "hiden": 3})


@pytest.mark.parametrize("n, fractions, sizes", [(10, [0.8, 0.1, 0.1], (8, 1)), (3, [1, 0, 0], (2, 0)),
                                                 (3, [0.8, 0.1, 0.1], (1, 1)), (5, [0.5, 0, 0.5], (2, 0))])
def test_splits_never_leave_test_or_validation_empty(n, fractions, sizes):
    assert _split_fractions(n, fractions) == sizes


def test_single_trajectory_task_cuts_in_time():
    record = synthetic_trajectories(1, seed=0, n_snapshots=20)[0]
    task = time_split(record, 0.7, window=3, val_fraction=0.1)
    # 20 snapshots at 70/10/20: train 0-13, validate 14-15, test 16-19 from 15; validation from 11
    assert task.kind == "single" and task.start == 15 and task.val_start == 11
    assert all(item["ligand"].pos.shape[1] == 5 for item in task.train)          # window + 2 snapshots
    assert task.val[0]["ligand"].pos.shape[1] == 16
    with pytest.raises(UsageError, match="no room"):
        time_split(record, 0.05)


def test_multi_trajectory_task_and_its_start():
    cfg = OmegaConf.create({"kind": "synthetic", "num": 5, "seed": 0, "fractions": [0.6, 0.2, 0.2], "start": 2,
                            "options": {"n_snapshots": 6, "ligand_atoms": [6, 8], "residues": [6, 10]}})
    task = build_task(cfg)
    assert (len(task.train), len(task.val), len(task.test)) == (3, 1, 1) and task.start == task.val_start == 2
    with pytest.raises(UsageError, match="data.start must be a snapshot index"):
        multi_start(OmegaConf.create({"start": -1}))
    with pytest.raises(UsageError, match="unknown data kind"):
        build_task(OmegaConf.create({"kind": "pdbbind"}))
