"""`neuralmd train` / `evaluate` with data=complexes: leave-target-out, leave-ligand-out, single."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuralmd.cli import main
from neuralmd.data import synthetic_trajectories, write_misato

from _cli_tiny import TINY_MODEL, TINY_TRAINER
from _complexes_standin import write_standin

#: A stand-in for benchmarks/data/complexes.hdf5: tyk2 with 3 ligands, p38 and bace with 1, 2 trajectories each.
PLAN = [("tyk2", "a"), ("tyk2", "b"), ("tyk2", "c"), ("p38", "x"), ("bace", "y")]


@pytest.fixture(scope="module")
def complexes_file(tmp_path_factory) -> Path:
    return write_standin(tmp_path_factory.mktemp("complexes") / "complexes.hdf5", PLAN, n_snapshots=8, seed=3)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURALMD_CACHE", str(tmp_path / "cache"))


def _data(path: Path, *extra: str) -> list[str]:
    return ["data=complexes", f"data.path={path}", "data.start=1", *extra]


def _train(run_dir: Path, data: list[str]) -> dict:
    assert main(["train", *TINY_MODEL, *TINY_TRAINER, *data, "baselines=[static,meanpose]", "export_formats=[]",
                 f"run_dir={run_dir}"]) == 0
    return json.loads((run_dir / "metrics.json").read_text())


def test_leave_target_out_trains_on_other_targets_and_evaluate_reuses_the_split(
        complexes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    report = _train(tmp_path / "run", _data(complexes_file, "data.test_target=tyk2"))
    # validation=group: one of p38 / bace validates, the other trains
    assert "(multi-trajectory: 2 train, 2 val, rollouts from snapshot 1" in capsys.readouterr().out
    data = report["data"]
    assert sorted(data["test_complexes"]) == [f"tyk2-{lig}-{k:02d}" for lig in "abc" for k in range(2)]
    assert data["info"]["fold"] == "tyk2" and data["info"]["test_ligands"] == ["a", "b", "c"]
    assert data["name"] == "leave_target_out tyk2" and data["start"] == 1
    assert [m["name"] for m in report["methods"]] == ["NeuralMD ODE", "Static", "MeanPose"]

    out = tmp_path / "eval"          # the data config comes from the checkpoint
    assert main(["evaluate", f"checkpoints=[{tmp_path / 'run'}]", "baselines=[static]", f"out_dir={out}"]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["data"]["test_complexes"] == data["test_complexes"]
    assert again["methods"][1]["overall"]["mae"] == pytest.approx(report["methods"][1]["overall"]["mae"])


def test_leave_ligand_out_and_single_tasks(complexes_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    report = _train(tmp_path / "llo", _data(complexes_file, "data.task=leave_ligand_out", "data.target=tyk2",
                                            "data.test_ligands=[c]", "data.validation=trajectory"))
    assert "(multi-trajectory: 2 train, 2 val" in capsys.readouterr().out    # a-00, b-00 train; a-01, b-01 validate
    assert sorted(report["data"]["test_complexes"]) == ["tyk2-c-00", "tyk2-c-01"]
    assert report["data"]["info"]["fold"] == "tyk2:c"

    out = tmp_path / "single"
    assert main(["evaluate", "baselines=[static]", "data=complexes", f"data.path={complexes_file}",
                 "data.task=single", "data.complex=p38-x-01", f"out_dir={out}"]) == 0
    single = json.loads((out / "metrics.json").read_text())["data"]
    assert single["task"] == "single" and single["test_complexes"] == ["p38-x-01"] and single["start"] == 5


@pytest.mark.parametrize("extra, status, message", [
    (["data.test_target=jnk1"], 1, "unknown target 'jnk1'; the data has bace, p38, tyk2"),
    ([], 2, "data.task=leave_target_out needs data.test_target=TARGET"),
    (["data.task=leave_ligand_out", "data.target=p38", "data.test_ligands=[x]"], 1,
     "leave-ligand-out on p38 needs at least one test and one training ligand"),
    (["data.task=leave_ligand_out", "data.target=tyk2", "data.test_ligands=[a,b]"], 1,
     "validation='group' needs at least 2 training ligands of tyk2"),
    (["data.task=leave_one_out"], 2, "data.task must be leave_target_out, leave_ligand_out or single"),
])
def test_bad_cross_complex_settings_fail_with_one_line(complexes_file: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture, extra, status, message) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", *TINY_MODEL, *TINY_TRAINER, *_data(complexes_file, *extra), f"run_dir={run_dir}"]) == status
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not run_dir.exists()          # nothing written before the error


def test_malformed_record_ids_are_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = synthetic_trajectories(2, seed=0, n_snapshots=6, ligand_atoms=(6, 8), residues=(6, 10))
    records[0].id, records[1].id = "tyk2-a-00", "T4L_00"
    path = write_misato(records, tmp_path / "mixed.hdf5")
    assert main(["evaluate", "baselines=[static]", *_data(path, "data.test_target=tyk2"),
                 f"out_dir={tmp_path / 'e'}"]) == 1
    assert "record id 'T4L_00' is not of the form target-ligand-kk" in capsys.readouterr().err
