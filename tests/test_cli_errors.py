"""Bad command lines and missing files end in one clear line on stderr and a non-zero status."""
from __future__ import annotations

import subprocess
import sys

import pytest

from neuralmd.cli import main

from _cli_tiny import TINY


def _one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("args, code, words", [
    (["train", "trainer.epochz=2"], 2, ["bad override", "epochz"]),
    (["train", "model=transformer"], 2, ["bad override", "transformer"]),
    (["train", "trainer.epochs=[oops"], 2, ["bad override"]),
    (["train", "--epochs=2"], 2, ["unknown option", "--epochs=2"]),
    (["frobnicate"], 2, ["unknown command", "frobnicate"]),
    (["simulate"], 2, ["checkpoint", "required"]),
    (["train", "data=misato", "data.path=/nonexistent/MD.hdf5"], 1, ["file not found", "/nonexistent/MD.hdf5"]),
    (["simulate", "checkpoint=/nonexistent/run", "complex=x.h5"], 1, ["file not found", "/nonexistent/run"]),
    (["evaluate", "checkpoints=[]", "baselines=[]"], 2, ["nothing to evaluate"]),
    (["evaluate", "baselines=[sttic]", "data=synthetic"], 2, ["unknown model", "sttic"]),
    (["train", "trainer.device=tpu"], 2, ["device"]),
    (["train", "export_formats=[.mol2]"], 2, ["export_formats", ".mol2"]),
    (["train", "model=gnnmd", "trainer.score_epochs=3"], 2, ["score_epochs", "Langevin", "GNN-MD"]),
    (["train", "trainer.score_epochs=-1"], 2, ["trainer.score_epochs", "integer >= 0"]),
    (["train", "model=neuralmd_ode", "trainer.loss=transition"], 2, ["trainer.loss=transition", "NeuralMD ODE"]),
])
def test_bad_input_gives_one_clear_line(args, code, words, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)   # nothing may be written into the repository
    assert main(args) == code
    line = _one_error_line(capsys)
    assert line.startswith(f"neuralmd {args[0]}: error:") or line.startswith("neuralmd: error:")
    for w in words:
        assert w in line, line


@pytest.mark.parametrize("samples", ["1", "four", "true", "null"])
def test_energy_loss_needs_two_or_more_samples(samples, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "model=neuralmd_sde", "trainer.loss=energy", f"trainer.samples={samples}"]) == 2
    line = _one_error_line(capsys)
    assert "trainer.samples" in line and ">= 2" in line, line


def test_console_script_reports_bad_override_without_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "neuralmd.cli", "train", "trainer.lrr=1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "trainer.lrr" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_and_cfg(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "neuralmd_sde" in out and "mdanalysis" in out
    assert main(["train", "model=gnnmd", "trainer.epochs=3", "--cfg"]) == 0
    out = capsys.readouterr().out
    assert "neuralmd.dynamics.GNNMD" in out and "epochs: 3" in out and "kind: synthetic" in out
