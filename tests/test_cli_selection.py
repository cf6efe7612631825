"""Model selection on validation rollouts: best.pt, history, schedules, early stopping, splits."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from neuralmd.cli import compose, main
from neuralmd.cli import _checkpoint as ckpt_io
from neuralmd.cli._build import build_task, time_split
from neuralmd.data import synthetic_trajectories

from _cli_tiny import TINY, TINY_DATA, TINY_TRAINER


def _history(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "history.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def selected(tmp_path_factory) -> Path:
    """Three tiny epochs with a cosine schedule, selecting on the validation MAE."""
    run_dir = tmp_path_factory.mktemp("selection") / "run"
    assert main(["train", *TINY, "trainer.epochs=3", "trainer.select_on=mae", "trainer.lr=0.01",
                 "baselines=[]", "export_formats=[]", f"run_dir={run_dir}"]) == 0
    return run_dir


def test_history_has_validation_rollout_scores_and_learning_rate(selected: Path) -> None:
    rows = _history(selected)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) >= {"train_loss", "val_mae", "val_energy_score", "lr"}
    # cosine from lr=0.01 towards min_lr: the first epoch runs at lr, then it falls
    assert rows[0]["lr"] == pytest.approx(0.01) and rows[0]["lr"] > rows[1]["lr"] > rows[2]["lr"]
    # a deterministic model's energy score is its mean L2 error, never below the MAE per coordinate
    assert all(r["val_energy_score"] >= r["val_mae"] > 0 for r in rows)


def test_best_checkpoint_is_the_epoch_with_the_lowest_validation_score(selected: Path) -> None:
    rows = _history(selected)
    best = torch.load(selected / "best.pt", weights_only=True)
    last = torch.load(selected / "checkpoint.pt", weights_only=True)
    lowest = min(rows, key=lambda r: r["val_mae"])
    assert best["epoch"] == int(lowest["epoch"]) and last["epoch"] == 3
    assert best["selection"]["best_score"] == pytest.approx(lowest["val_mae"])
    # a run folder means its best checkpoint; resuming means the last one
    assert ckpt_io.checkpoint_path(selected).name == "best.pt"
    assert ckpt_io.checkpoint_path(selected, which="last").name == "checkpoint.pt"


def test_early_stopping_and_plateau_schedule(tmp_path: Path) -> None:
    # lr=1e-30 leaves float32 weights unchanged: no epoch improves on the first one
    run_dir = tmp_path / "stalled"
    assert main(["train", *TINY, "trainer.epochs=6", "trainer.lr=1e-30", "trainer.min_lr=0",
                 "trainer.schedule=plateau", "trainer.patience=1", "trainer.early_stopping=3",
                 "baselines=[]", "export_formats=[]", f"run_dir={run_dir}"]) == 0
    rows = _history(run_dir)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]           # stopped 3 epochs after the best (1)
    assert [r["lr"] for r in rows] == pytest.approx([1e-30, 1e-30, 5e-31, 2.5e-31])
    assert torch.load(run_dir / "best.pt", weights_only=True)["epoch"] == 1
    # resuming a stopped run trains no further
    assert main(["train", "resume=true", f"run_dir={run_dir}"]) == 0
    assert len(_history(run_dir)) == 4


def test_single_trajectory_task_is_split_70_10_20() -> None:
    record = synthetic_trajectories(1, seed=0, n_snapshots=100)[0]
    task = time_split(record, 0.7, window=3, val_fraction=0.1)
    assert task.info == {"snapshots": 100, "train_snapshots": 70, "val_snapshots": 10}
    assert task.start == 79                                    # test predicts 80-99 from 79
    (val,) = task.val
    assert val["ligand"].pos.shape[1] == 80                    # nothing of the test part
    assert task.val_start == 59                                # 20 predicted snapshots, as the test
    assert max(int(item.t0) + item["ligand"].pos.shape[1] for item in task.train) == 70


def test_every_default_task_has_a_validation_set() -> None:
    for overrides in ([], ["data.task=single"], ["data.num=4"]):
        task = build_task(compose("train", overrides).data, window=3)
        assert len(task.val) >= 1, overrides


def test_equilibrium_epochs_come_first_and_are_neither_validated_nor_selected(tmp_path: Path) -> None:
    run_dir = tmp_path / "equilibrium"
    langevin = ["model=neuralmd_langevin", "model.force_field.hidden=8", "model.force_field.num_layers=1",
                "model.force_field.num_rbf=8", "model.score_weight=0.5", "trainer.samples=2",
                "trainer.val_samples=2", "eval_samples=2"]
    assert main(["train", *TINY_DATA, *TINY_TRAINER, *langevin, "trainer.score_epochs=2", "baselines=[]",
                 "export_formats=[]", f"run_dir={run_dir}"]) == 0
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]          # 2 equilibrium + trainer.epochs=2
    assert [r["val_energy_score"] == "" for r in rows] == [True, True, False, False]
    # the equilibrium epochs run at lr; the cosine schedule starts with the dynamics
    assert float(rows[0]["lr"]) == float(rows[1]["lr"]) == float(rows[2]["lr"]) > float(rows[3]["lr"])
    assert torch.load(run_dir / "best.pt", weights_only=True)["epoch"] in (3, 4)
    assert compose("train", []).trainer.score_epochs is None         # null: the model config's (0)
    assert "score_epochs: 2" in (run_dir / "config.yaml").read_text()
