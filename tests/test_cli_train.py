"""`neuralmd train` end to end on tiny data: outputs, exported trajectory, resume after a kill."""
from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import pytest
import torch

from neuralmd.cli import main
from neuralmd.cli import _train

from _cli_tiny import TINY, TINY_DATA, TINY_TRAINER


# The resume runs also exercise the optional optimiser features, whose state must survive a kill.
OPTIONS = ["trainer.ema=0.9", "trainer.optimizer=sgd", "trainer.lr=0.01", "trainer.loss=mse",
           "trainer.grad_clip=0.5"]


def _train_run(run_dir: Path, *extra: str) -> int:
    return main(["train", *TINY, *OPTIONS, f"run_dir={run_dir}", *extra])


def _assert_same_weights(a: Path, b: Path) -> None:
    ca, cb = (torch.load(p / "checkpoint.pt", weights_only=False) for p in (a, b))
    for part in ("model", "ema"):
        assert ca[part].keys() == cb[part].keys()
        for k in ca[part]:
            assert torch.equal(ca[part][k], cb[part][k]), f"{part} {k} differs"
    assert [h["train_loss"] for h in ca["history"]] == [h["train_loss"] for h in cb["history"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted tiny run (2 epochs x 2 steps), shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("runs") / "reference"
    assert _train_run(run_dir) == 0
    return run_dir


def test_train_writes_checkpoint_tables_plot_and_trajectory(reference: Path) -> None:
    for name in ("checkpoint.pt", "metrics.json", "metrics.csv", "metrics.md", "rmsf.png", "rmsf_atoms.png",
                 "features.png",
                 "history.csv", "config.yaml"):
        assert (reference / name).is_file(), name
    ckpt = torch.load(reference / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == 2 and ckpt["global_step"] == 4 and ckpt["model_name"] == "NeuralMD ODE"

    report = json.loads((reference / "metrics.json").read_text())
    names = [m["name"] for m in report["methods"]]
    # every trivial baseline on the same test set
    assert names == ["NeuralMD ODE", "Static", "MeanPose", "Linear", "Stationary", "RandomWalk", "OrnsteinUhlenbeck"]
    for m in report["methods"]:
        assert set(m["overall"]) >= {"mae", "mean_l2", "rmsd", "matching", "stability", "clash_rate", "speed",
                                     "energy_score", "crps", "skill_static", "skill_meanpose", "jsd_centroid"}
        # decorrelation times may be undefined (a frozen ligand) or longer than the window
        assert all(math.isfinite(v) for k, v in m["overall"].items() if not k.startswith("decorrelation"))
        assert 0 <= m["overall"]["stability"] <= 100
        assert m["overall"]["mae"] <= m["overall"]["mean_l2"] <= m["overall"]["rmsd"] + 1e-9
    with open(reference / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows if r["complex"] == "all"} == set(names)
    assert len([r for r in csv.DictReader(open(reference / "history.csv"))]) == 2

    # The exported prediction: ligand + pocket backbone, one frame per snapshot from the start
    # pose (snapshot 1 of 8; snapshot 0 gives the velocity) to the end: 7.
    saved = torch.load(next(reference.glob("prediction_*.pt")), weights_only=True)   # a plain file
    frames = ase.io.read(next(reference.glob("prediction_*.xyz")), index=":")
    n_lig = saved["record"]["z"].numel()
    assert len(frames) == saved["traj"].shape[0] == 7
    assert len(frames[0]) > n_lig and (len(frames[0]) - n_lig) % 3 == 0
    assert torch.allclose(torch.tensor(frames[3].positions[:n_lig]), saved["traj"][3].double(), atol=1e-4)


def test_resume_after_interruption_matches_uninterrupted(reference: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Interrupt in the middle of epoch 2 (after step 3 of 4), checkpointing every step.
    real_step = _train.Trainer._step

    def step_then_die(self, indices):
        if self.global_step == 3:
            raise KeyboardInterrupt
        return real_step(self, indices)

    monkeypatch.setattr(_train.Trainer, "_step", step_then_die)
    run_dir = tmp_path / "killed"
    assert _train_run(run_dir, "trainer.checkpoint_every=1") == 130
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 1, 3)
    assert not list(run_dir.glob(".checkpoint.pt.*"))        # no temporary file left behind
    monkeypatch.setattr(_train.Trainer, "_step", real_step)

    assert main(["train", "resume=true", f"run_dir={run_dir}"]) == 0
    _assert_same_weights(reference, run_dir)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert state["global_step"] == 4 and len(state["history"]) == 2


def test_resume_after_sigkill_matches_uninterrupted(reference: Path, tmp_path: Path) -> None:
    """A real kill -9 of a training process, at whatever point it has reached, then resume."""
    run_dir = tmp_path / "sigkilled"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "neuralmd.cli", "train", *TINY, *OPTIONS, f"run_dir={run_dir}",
           "trainer.checkpoint_every=1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoint.pt").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert main(["train", "resume=true", f"run_dir={run_dir}"]) == 0
    _assert_same_weights(reference, run_dir)


def test_parameter_free_model_is_evaluated_without_training(tmp_path: Path) -> None:
    assert main(["train", *TINY_DATA, *TINY_TRAINER, "model=linear", f"run_dir={tmp_path}"]) == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert [m["name"] for m in report["methods"]] == ["Linear", "Static", "MeanPose", "Stationary", "RandomWalk",
                                                      "OrnsteinUhlenbeck"]
    assert (tmp_path / "checkpoint.pt").is_file()


@pytest.mark.parametrize("model, task", [("gnnmd", "single"), ("neuralmd_sde", "multi")])
def test_other_models_and_the_single_trajectory_task(model: str, task: str, tmp_path: Path) -> None:
    extra = ["data.num=1", "data.options.n_snapshots=10"] if task == "single" else []
    sizes = [o for o in TINY if o.startswith("model.force_field")]
    solver = ["model.method=euler", "model.step_size=1.0"] if model == "neuralmd_sde" else []
    assert main(["train", *TINY_DATA, *TINY_TRAINER, *extra, f"model={model}", *sizes, *solver,
                 f"data.task={task}", "trainer.epochs=1", "export_formats=[.pdb]", f"run_dir={tmp_path}"]) == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["data"]["task"] == task
    assert report["data"]["start"] == (7 if task == "single" else 1)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    # single task: 10 snapshots at 70/10/20 -> 7 train, 1 val, 2 test -> windows of 2 + 2 snapshots:
    # 4 items, batch 2 -> 2 steps; multi: 3 train, batch 2 -> 2 steps
    assert ckpt["global_step"] == 2
    frames = ase.io.read(next(tmp_path.glob("prediction_*.pdb")), index=":")
    assert len(frames) == (3 if task == "single" else 7)   # multi: snapshots 1..7 of 8


def test_langevin_model_trains_on_the_energy_score(tmp_path: Path) -> None:
    run_dir = tmp_path / "langevin"
    assert main(["train", *TINY, "model=neuralmd_langevin", "model.method=baoab", "trainer.loss=energy",
                 "trainer.samples=3", "trainer.epochs=1", f"run_dir={run_dir}"]) == 0
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert ckpt["model_name"] == "NeuralMD Langevin" and ckpt["config"]["trainer"]["loss"] == "energy"
    assert any(k.startswith("langevin.") for k in ckpt["model"])
    assert all(math.isfinite(h["train_loss"]) and h["train_loss"] > 0 for h in ckpt["history"])


def test_default_model_is_langevin_trained_by_the_energy_score_and_mae_stays_for_the_paper_ode() -> None:
    from neuralmd.cli import compose
    from neuralmd.cli._train import _resolve_training_loss

    default = compose("train", [])
    assert default.model.name == "NeuralMD Langevin" and default.trainer.loss is None
    _resolve_training_loss(default)
    assert default.trainer.loss == "energy"
    paper = compose("train", ["model=neuralmd_ode"])
    _resolve_training_loss(paper)
    assert paper.trainer.loss == "mae"
    chosen = compose("train", ["trainer.loss=mse"])
    _resolve_training_loss(chosen)
    assert chosen.trainer.loss == "mse"


def test_compiled_training_matches_eager_training(reference: Path, tmp_path: Path, monkeypatch) -> None:
    """trainer.compile=default compiles every BindingNet module's message passing before training;
    the run (with the EMA and best-model copies, deep copies of the compiled model) must give the
    eager run's weights and losses. Dynamo's eager backend keeps it fast: what is tested is that
    compiling changes nothing, not inductor's kernels."""
    import functools

    from neuralmd.layers import _interaction

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    bound = []
    original = _interaction.StackOwner.compile_message_passing
    monkeypatch.setattr(_interaction.StackOwner, "compile_message_passing",
                        lambda self, **kw: bound.append(self) or original(self, **kw))
    run_dir = tmp_path / "compiled"
    assert _train_run(run_dir, "trainer.compile=default") == 0
    assert len(bound) == 3  # the force field's ligand and complex modules and the velocity map
    ca, cb = (torch.load(p / "checkpoint.pt", weights_only=False) for p in (reference, run_dir))
    for part in ("model", "ema"):
        for k in ca[part]:
            torch.testing.assert_close(ca[part][k], cb[part][k], rtol=1e-5, atol=1e-6)
    for a, b in zip(ca["history"], cb["history"]):  # validation rolls out a deep copy of the model
        for key in ("train_loss", "val_mae", "val_energy_score"):
            assert math.isclose(a[key], b[key], rel_tol=1e-6), key
    torch.testing.assert_close(torch.load(reference / "prediction_SYN0000-00002.pt", weights_only=False)["traj"],
                               torch.load(run_dir / "prediction_SYN0000-00002.pt", weights_only=False)["traj"],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("value, words", [("reduce-overhead", ["trainer.compile", "null or default"]),
                                          ("yes", ["trainer.compile", "null or default"])])
def test_bad_trainer_compile_is_refused_before_anything_is_written(value: str, words: list, tmp_path: Path,
                                                                   capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", *TINY, f"run_dir={run_dir}", f"trainer.compile={value}"]) != 0
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert not run_dir.exists()


def test_trainer_compile_refuses_models_trained_through_a_second_derivative(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", *TINY_DATA, *TINY_TRAINER, "model=verletmd", "model.force_field.hidden=8",
                 "model.force_field.num_layers=1", "trainer.compile=default", f"run_dir={run_dir}"]) != 0
    assert "second derivative" in capsys.readouterr().err
    assert not run_dir.exists()
