"""`neuralmd evaluate`, `simulate` and `export` end to end on one tiny trained checkpoint."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import ase.io
import pytest
import torch

from neuralmd import metrics
from neuralmd.cli import main
from neuralmd.data import synthetic_trajectories, write_misato
from neuralmd.io import to_ase, write_trajectory

from _cli_tiny import TINY, TINY_DATA


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny NeuralMD ODE trained for one epoch."""
    path = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "trainer.epochs=1", "baselines=[]", "export_formats=[]",
                 f"run_dir={path}"]) == 0
    return path


@pytest.fixture(scope="module")
def complex_file(tmp_path_factory):
    """One 8-snapshot complex in a MISATO-layout HDF5 file, and the record itself."""
    record = synthetic_trajectories(1, seed=7, n_snapshots=8, ligand_atoms=(6, 8), residues=(6, 10))[0]
    path = tmp_path_factory.mktemp("h5") / "one.h5"
    write_misato([record], path)
    return path, record


def _n_atoms(record, protein: str = "pocket") -> int:
    return len(to_ase(record, protein=protein)[0])


def test_evaluate_checkpoint_and_baselines_on_the_same_snapshots(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", f"checkpoints=[{run_dir},{run_dir}/checkpoint.pt]", "baselines=[static,linear]",
                 f"out_dir={out}"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    names = [m["name"] for m in report["methods"]]
    assert names[0] == "NeuralMD ODE" and names[1].startswith("NeuralMD ODE (") and names[2:] == ["Static", "Linear"]
    # Same checkpoint twice: same predictions and metrics (deterministic ODE).
    a, b = report["methods"][0]["overall"], report["methods"][1]["overall"]
    assert all(a[k] == pytest.approx(b[k], nan_ok=True) for k in a if k != "speed")

    # Static from the start snapshot by hand, with the records the run was trained on.
    from neuralmd.cli import compose
    from neuralmd.cli._build import build_task
    test = build_task(compose("train", TINY).data).test
    (cid,) = report["data"]["test_complexes"]
    start = report["data"]["start"]
    assert start == 1   # the multi-trajectory task predicts from snapshot 1 (velocity from 0)
    pos = test[0]["ligand"].pos.transpose(0, 1).double()[start:]
    static = pos[:1].expand_as(pos)
    got = report["methods"][2]["per_complex"][cid]
    assert got["mae"] == pytest.approx(metrics.mae(static[1:], pos[1:]))
    assert got["stability"] == pytest.approx(metrics.stability(static[1:], pos[1:]))
    assert report["methods"][2]["overall"]["speed"] > 0

    table = (out / "metrics.md").read_text()
    assert "| Static |" in table and "Stability (%)" in table and cid in table
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["method"] for r in rows if r["complex"] == "all"] == names


def test_evaluate_reports_ensembles_distributions_and_skills(tmp_path: Path) -> None:
    out = tmp_path / "ensembles"
    assert main(["evaluate", "baselines=[static,meanpose,linear,stationary,randomwalk]", "samples=4",
                 "data=synthetic", *TINY_DATA, "data.options.n_snapshots=12", "data.start=5",
                 f"out_dir={out}"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["data"]["start"] == 5 and report["units"]["energy_score"] == "Å"
    by_name = {m["name"]: m["overall"] for m in report["methods"]}
    assert set(by_name) == {"Static", "MeanPose", "Linear", "Stationary", "RandomWalk"}
    static, meanpose = by_name["Static"], by_name["MeanPose"]
    assert static["samples"] == 1 and by_name["Stationary"]["samples"] == 4
    assert static["energy_score"] == pytest.approx(static["mean_l2"])       # one sample: mean L2
    assert static["crps"] == pytest.approx(static["mae"])
    assert static["skill_static"] == 0 and meanpose["skill_meanpose"] == 0
    # the skills' intervals over the test complexes hold the skill; Static's against itself is [0, 0]
    assert static["skill_static_low"] == static["skill_static_high"] == 0
    for m in by_name.values():
        assert m["skill_static_low"] <= m["skill_static"] + 1e-12 and m["skill_static"] <= m["skill_static_high"] + 1e-12
    sentence = next(line for line in (out / "metrics.md").read_text().splitlines()
                    if line.startswith("Skill vs Static with its 95 % bootstrap interval"))
    assert re.search(r"Stationary [+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]", sentence)
    assert "; Static " not in sentence and ": Static " not in sentence    # not against itself
    assert meanpose["skill_static"] == pytest.approx(1 - meanpose["energy_score"] / static["energy_score"])
    assert static["rmsf_ratio"] == 0 and by_name["Stationary"]["rmsf_ratio"] > 0
    assert all(0 <= m[k] <= 0.6932 for m in by_name.values() for k in ("jsd_centroid", "jsd_rmsd", "jsd_contact"))
    assert by_name["Stationary"]["energy_score"] != by_name["MeanPose"]["energy_score"]
    table = (out / "metrics.md").read_text()
    assert "Energy score (Å)" in table and "Skill vs MeanPose" in table and "Best on these snapshots" in table
    for plot in ("rmsf.png", "rmsf_atoms.png", "features.png"):
        assert (out / plot).stat().st_size > 1000


def test_evaluate_single_trajectory_task_predicts_the_last_fifth(tmp_path: Path) -> None:
    out = tmp_path / "single"
    assert main(["evaluate", "baselines=[static,linear]", "data=synthetic", "data.task=single",
                 "data.num=1", "data.options.n_snapshots=10", "data.options.ligand_atoms=[6,8]",
                 "data.options.residues=[6,10]", f"out_dir={out}"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["data"]["task"] == "single" and report["data"]["start"] == 7   # train 0-7, predict 8-9
    static, linear = (m["overall"] for m in report["methods"])
    assert static["mae"] != linear["mae"]          # a non-zero start velocity separates them


def test_simulate_from_misato_file_and_id(run_dir: Path, complex_file, tmp_path: Path) -> None:
    h5, record = complex_file
    out = tmp_path / "sim.xyz"
    assert main(["simulate", f"checkpoint={run_dir}", f"complex={h5}", "snapshots=6", "start=0",
                 f"output={out}"]) == 0
    frames = ase.io.read(out, index=":")
    assert len(frames) == 7 and len(frames[0]) == _n_atoms(record)
    saved = torch.load(out.with_suffix(".pt"), weights_only=False)
    assert saved["traj"].shape == (7, record["ligand"].z.numel(), 3)
    assert torch.allclose(saved["traj"][0], record["ligand"].pos[:, 0], atol=1e-4)   # starts at the pose

    pdb = tmp_path / "sim.pdb"
    assert main(["simulate", f"checkpoint={run_dir}", f"complex={record.id}", f"h5={h5}", "snapshots=3",
                 "protein_atoms=backbone", f"output={pdb}"]) == 0
    frames = ase.io.read(pdb, index=":")
    assert len(frames) == 4 and len(frames[0]) == _n_atoms(record, "backbone")


def test_simulate_from_an_mdanalysis_topology(run_dir: Path, complex_file, tmp_path: Path) -> None:
    _, record = complex_file
    topology = write_trajectory(tmp_path / "md.pdb", record, protein="backbone")
    out = tmp_path / "md_sim.traj"
    assert main(["simulate", f"checkpoint={run_dir}", f"complex={topology}", "ligand=resname LIG",
                 "protein=not resname LIG", "snapshots=2", f"output={out}"]) == 0
    frames = ase.io.read(out, index=":")
    assert len(frames) == 3 and len(frames[0]) == _n_atoms(record)


def test_export_prediction_and_ground_truth(run_dir: Path, complex_file, tmp_path: Path) -> None:
    h5, record = complex_file
    sim = tmp_path / "sim.xyz"
    assert main(["simulate", f"checkpoint={run_dir}", f"complex={h5}", "snapshots=4", f"output={sim}"]) == 0
    outs = [tmp_path / "p.traj", tmp_path / "p.pdb"]
    assert main(["export", f"input={sim.with_suffix('.pt')}", f"output=[{outs[0]},{outs[1]}]"]) == 0
    for path in outs:
        assert len(ase.io.read(path, index=":")) == 5

    gt = tmp_path / "gt.xyz"
    assert main(["export", f"complex={h5}", f"output={gt}", "stride=2", "protein_atoms=none"]) == 0
    frames = ase.io.read(gt, index=":")
    assert len(frames) == 4 and len(frames[0]) == record["ligand"].z.numel()
    assert torch.allclose(torch.tensor(frames[1].positions), record["ligand"].pos[:, 2].double(), atol=1e-4)


def test_evaluate_on_a_misato_layout_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURALMD_CACHE", str(tmp_path / "cache"))
    records = synthetic_trajectories(10, seed=1, n_snapshots=6, ligand_atoms=(6, 8), residues=(6, 10))
    h5 = write_misato(records, tmp_path / "md.h5")
    out = tmp_path / "eval"
    assert main(["evaluate", "baselines=[static]", "data=misato", f"data.path={h5}", "data.subset=10",
                 f"out_dir={out}"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["data"]["name"] == "MISATO-10" and len(report["data"]["test_complexes"]) == 1
    assert report["data"]["test_complexes"][0] in {r.id for r in records}


def test_evaluate_single_and_mdanalysis_data_configs(complex_file, tmp_path: Path) -> None:
    h5, record = complex_file
    topology = write_trajectory(tmp_path / "md.pdb", record, protein="backbone")
    for name, data in [("single", ["data=single", f"data.complex={h5}"]),
                       ("mdanalysis", ["data=mdanalysis", f"data.topology={topology}", "data.ligand=resname LIG",
                                       "data.protein=not resname LIG"])]:
        out = tmp_path / name
        assert main(["evaluate", "baselines=[static]", *data, f"out_dir={out}"]) == 0
        report = json.loads((out / "metrics.json").read_text())
        assert report["data"]["task"] == "single" and report["data"]["start"] == 5   # 8 snapshots: train 0-5
        assert report["methods"][0]["overall"]["mae"] > 0


def test_simulate_compiles_every_bindingnet_module_on_request(run_dir: Path, complex_file, tmp_path: Path,
                                                             monkeypatch, capsys) -> None:
    """compile=default hands the message passing of the force field's ligand and complex modules,
    and of the dynamics' own BindingNet-Ligand modules, to torch.compile (recorded here, not run:
    compiling takes a minute); bad values, CUDA graphs on a CPU and models without a BindingNet
    get one clear error before anything is written."""
    from neuralmd.layers._interaction import StackOwner

    h5, _ = complex_file
    compiled = []
    monkeypatch.setattr(StackOwner, "compile_message_passing",
                        lambda self, *, mode=None: compiled.append((type(self).__name__, mode)) or self)
    out = tmp_path / "sim.xyz"
    assert main(["simulate", f"checkpoint={run_dir}", f"complex={h5}", "snapshots=2", "compile=default",
                 f"output={out}"]) == 0
    assert out.exists()
    # the force field's two modules and the ODE's velocity map (velocity_mapping: true)
    assert sorted(compiled) == [("BindingNetComplex", None), ("BindingNetLigand", None), ("BindingNetLigand", None)]
    for value, words in (("fast", ["compile must be", "fast"]), ("reduce-overhead", ["device=cuda", "cpu"])):
        bad = tmp_path / f"{value}.xyz"
        assert main(["simulate", f"checkpoint={run_dir}", f"complex={h5}", "snapshots=2", f"compile={value}",
                     "device=cpu", f"output={bad}"]) != 0
        err = capsys.readouterr().err
        assert all(w in err for w in words), err
        assert not bad.exists() and not bad.with_suffix(".pt").exists()
    assert len(compiled) == 3  # the bad values compiled nothing
    from neuralmd.cli import UsageError
    from neuralmd.cli._build import compile_model

    with pytest.raises(UsageError, match="no BindingNet modules"):
        compile_model(torch.nn.Linear(1, 1), "Linear", "default", torch.device("cpu"))


def test_evaluate_with_rolling_origins_and_its_refusals(tmp_path: Path, capsys) -> None:
    out = tmp_path / "rolling"
    common = ["evaluate", "baselines=[static,randomwalk]", "data=synthetic", "data.num=4", "data.options.n_snapshots=12",
              "data.options.ligand_atoms=[6,8]", "data.options.residues=[6,10]", "samples=2"]
    assert main([*common, "rolling_every=3", "rolling_horizon=4", f"out_dir={out}"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert all(len(m["rolling_energy_score_by_lag"]) == 4 for m in report["methods"])
    assert "The same from rolling origins" in (out / "metrics.md").read_text()
    for bad, message in (("rolling_every=-1", "rolling_every must be"), ("rolling_horizon=0", "rolling origins need"),
                         ("rolling_horizon=50", "leaves no origin")):
        target = tmp_path / bad.replace("=", "_")
        assert main([*common, "rolling_every=3", bad, f"out_dir={target}"]) != 0
        assert message in capsys.readouterr().err and not target.exists()     # refused before anything is written
