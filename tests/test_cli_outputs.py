"""Outputs: neuralmd.load, plain prediction files, all-or-nothing writes, synthetic complexes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import neuralmd
from neuralmd.cli import main
from neuralmd.data import synthetic_trajectories, write_misato

from _cli_tiny import TINY


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("outputs") / "run"
    assert main(["train", *TINY, "baselines=[]", "export_formats=[]", f"run_dir={path}"]) == 0
    return path


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_neuralmd_load_gives_the_best_model_and_its_config(run_dir: Path) -> None:
    model, config = neuralmd.load(run_dir)
    assert not model.training and config.model.force_field.hidden == 8 and config.trainer.epochs == 2
    best = torch.load(run_dir / "best.pt", weights_only=True)
    assert all(torch.equal(v, best["model"][k]) for k, v in model.state_dict().items())
    record = synthetic_trajectories(1, seed=1, n_snapshots=8, ligand_atoms=(6, 8), residues=(6, 10))[0]
    assert model.rollout(record, torch.arange(1, 5)).shape == (4, record["ligand"].z.numel(), 3)
    last, _ = neuralmd.load(run_dir, which="last")
    last_state = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(v, last_state[k]) for k, v in last.state_dict().items())


def test_simulate_a_synthetic_complex_writes_a_plain_prediction(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim.pdb"
    assert main(["simulate", f"checkpoint={run_dir}", "complex=synthetic:3", "snapshots=4", f"output={out}"]) == 0
    saved = torch.load(out.with_suffix(".pt"), weights_only=True)      # no neuralmd class inside
    assert saved["traj"].shape[0] == 5 and saved["record"]["id"].startswith("SYN")
    assert out.is_file() and not list(tmp_path.glob(".*partial*"))


def test_simulate_with_a_bad_output_writes_nothing(run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.mol2"
    assert main(["simulate", f"checkpoint={run_dir}", "complex=synthetic:0", f"output={out}"]) == 2
    assert "output" in _error(capsys) and list(tmp_path.iterdir()) == []


def test_export_is_all_or_nothing(run_dir: Path, tmp_path: Path, capsys) -> None:
    record = synthetic_trajectories(1, seed=7, n_snapshots=8, ligand_atoms=(6, 8), residues=(6, 10))[0]
    h5 = write_misato([record], tmp_path / "one.h5")
    assert main(["export", f"complex={h5}", f"output=[{tmp_path}/a.xyz,{tmp_path}/a.mol2]"]) == 2
    assert ".mol2" in _error(capsys) and not (tmp_path / "a.xyz").exists()
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert main(["export", f"complex={h5}", f"output=[{tmp_path}/b.xyz,{blocker}/b.pdb]"]) == 1
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "one.h5"]
    assert main(["export", f"complex={h5}", f"output=[{tmp_path}/c.pdb,{tmp_path}/c.xtc,{tmp_path}/c.dcd]"]) == 0
    import MDAnalysis as mda
    assert len(mda.Universe(str(tmp_path / "c.pdb"), str(tmp_path / "c.xtc")).trajectory) == 8


def test_simulate_names_an_unknown_synthetic_complex(run_dir: Path, capsys) -> None:
    assert main(["simulate", f"checkpoint={run_dir}", "complex=synthetic:99"]) == 2
    assert "synthetic:99" in _error(capsys)


def test_single_data_with_a_topology_points_at_mdanalysis(tmp_path: Path, capsys) -> None:
    topology = tmp_path / "system.pdb"
    topology.write_text("END\n")
    tiny_rest = [o for o in TINY if not o.startswith("data.")]
    assert main(["train", *tiny_rest, "data=single", f"data.complex={topology}", f"run_dir={tmp_path}/run"]) == 2
    assert "data=mdanalysis" in _error(capsys) and not (tmp_path / "run").exists()
