"""Failure paths: one clear error, written before any output, and nothing lost or left behind."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from neuralmd.cli import main

from _cli_tiny import TINY

QUICK = [*TINY, "trainer.epochs=1", "baselines=[]", "export_formats=[]"]


def _error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("failures") / "run"
    assert main(["train", *QUICK, f"run_dir={run_dir}"]) == 0
    return run_dir


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_divergence_is_named_and_leaves_no_run_folder(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "diverged"
    assert main(["train", *QUICK, "trainer.lr=1e8", "trainer.grad_clip=null", f"run_dir={run_dir}"]) == 1
    line = _error(capsys)
    assert "training diverged" in line and "trainer.lr" in line and "positions contain" not in line.split(":")[1]
    assert not run_dir.exists()


@pytest.mark.parametrize("change", [["model=gnnmd"], ["model.force_field.hidden=16"]])
def test_resume_that_changes_the_model_is_refused_and_changes_nothing(finished: Path, change, capsys) -> None:
    before = _snapshot(finished)
    assert main(["train", "resume=true", f"run_dir={finished}", "trainer.epochs=2", *change]) == 2
    line = _error(capsys)
    assert "resume cannot change the model" in line and "new run_dir" in line
    assert _snapshot(finished) == before


def test_fresh_run_into_an_existing_run_folder_is_refused(finished: Path, capsys) -> None:
    before = _snapshot(finished)
    assert main(["train", *QUICK, f"run_dir={finished}"]) == 2
    assert "already holds a run" in _error(capsys) and _snapshot(finished) == before


@pytest.mark.parametrize("override, words", [
    ("trainer.epochs=0", ["trainer.epochs", ">= 1"]),
    ("trainer.epochs=-1", ["trainer.epochs", ">= 1"]),
    ("trainer.epochs=abc", ["trainer.epochs", "'abc'"]),
    ("trainer.batch_size=0", ["trainer.batch_size", ">= 1"]),
    ("trainer.window=0", ["trainer.window", ">= 1"]),
    ("trainer.lr=-1", ["trainer.lr", "positive"]),
    ("trainer.select_on=loss", ["trainer.select_on", "energy_score or mae"]),
    ("trainer.schedule=step", ["trainer.schedule", "cosine"]),
])
def test_bad_trainer_settings_are_usage_errors_before_any_output(override, words, tmp_path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", *QUICK, override, f"run_dir={run_dir}"]) == 2
    line = _error(capsys)
    assert all(w in line for w in words), line
    assert not run_dir.exists()


def test_unwritable_run_folder_is_named(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["train", *QUICK, f"run_dir={blocker}/run"]) == 2
    line = _error(capsys)
    assert "cannot create run_dir" in line and "file not found" not in line


def test_checkpoints_are_plain_files_any_torch_load_reads(finished: Path) -> None:
    for name in ("checkpoint.pt", "best.pt"):
        state = torch.load(finished / name, weights_only=True)
        assert state["model_name"] == "NeuralMD ODE" and state["epoch"] == 1
        umask = os.umask(0)
        os.umask(umask)
        assert (finished / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_resume_removes_temporaries_left_by_a_kill(finished: Path, tmp_path: Path) -> None:
    import shutil
    run_dir = tmp_path / "copy"
    shutil.copytree(finished, run_dir)
    stale = run_dir / ".checkpoint.pt.abc123.tmp"
    stale.write_bytes(b"")
    assert main(["train", "resume=true", f"run_dir={run_dir}", "trainer.epochs=2"]) == 0
    assert not stale.exists()
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 2


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_garbage_checkpoint_gives_one_clear_error(content: bytes, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    out = tmp_path / "eval"
    assert main(["evaluate", f"checkpoints=[{bad}]", "baselines=[]", f"out_dir={out}"]) == 1
    line = _error(capsys)
    assert "not a readable neuralmd checkpoint" in line and str(bad) in line
    assert not out.exists()
