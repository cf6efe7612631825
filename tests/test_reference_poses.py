"""Reference poses: other trajectories of one complex, superposed onto a record, pooled by the history methods."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from _dynamics_toys import assert_ensemble_equivariant_and_batch_independent, make_record
from _dynamics_toys import ENSEMBLE_TIMES as TIMES
from _dynamics_toys import seeded_ensemble as seeded_rollouts
from torch_geometric.data import Batch
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.data import attach_reference_poses, same_complex, superpose, with_reference_poses, write_misato
from neuralmd.dynamics import MeanPoseBaseline, NeuralMD, OrnsteinUhlenbeckBaseline, StationaryBaseline
from neuralmd.dynamics._baselines import observed_covariance, observed_mean_and_spread
from neuralmd.dynamics._langevin import mixture_well
from neuralmd.layers import BindingNet
from neuralmd.testing import (assert_batch_independent, assert_reflection_sensitive,
                              random_rigid_motion, transform_record)

ROOT = Path(__file__).resolve().parents[1]


def another_run(record, seed: int, *, moved: bool = True):
    """A second trajectory of ``record``'s complex: the same atoms and pocket, other ligand poses, and
    (``moved``) the whole complex in another frame, as an independent MD run would be saved."""
    other = record.clone()
    g = torch.Generator().manual_seed(seed)
    pos = record["ligand"].pos
    other["ligand"].pos = pos.flip(1) + 0.3 * torch.randn(pos.shape, generator=g, dtype=pos.dtype)
    other.id = f"{record.id}-run{seed}"
    if moved:
        rotation, shift = random_rigid_motion(generator=g)
        other = transform_record(other, rotation, shift)
    return other


def with_references(seed: int, n_lig: int = 7, n_res: int = 12, runs: int = 2):
    record = make_record(seed, n_lig=n_lig, n_res=n_res)
    return with_reference_poses(record, [another_run(record, 100 * seed + k) for k in range(runs)])


def test_superpose_recovers_a_rigid_motion_and_never_a_mirror():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(15, 3, generator=g, dtype=torch.float64)
    rotation, shift = random_rigid_motion(generator=g)
    found, found_shift = superpose(points, points @ rotation.T + shift)
    assert torch.allclose(found, rotation, atol=1e-12) and torch.allclose(found_shift, shift, atol=1e-12)
    mirrored = points * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    found, _ = superpose(points, mirrored)
    assert torch.linalg.det(found) == pytest.approx(1.0)


def test_reference_poses_are_the_other_runs_in_the_records_frame():
    record = make_record(1, n_lig=5, n_res=9)
    unmoved = another_run(record, 7, moved=False)
    attached = with_reference_poses(record, [another_run(record, 7), record])
    reference = attached["ligand"].reference_pos
    assert reference.shape == (5, 16, 3) and reference.dtype == record["ligand"].pos.dtype
    assert torch.allclose(reference[:, :8], unmoved["ligand"].pos, atol=1e-10)
    assert torch.allclose(reference[:, 8:], record["ligand"].pos, atol=1e-12)    # itself: the identity
    assert "reference_pos" not in record["ligand"]                        # the input is not changed


def test_reference_poses_turn_with_the_record():
    record = make_record(2, n_lig=6, n_res=10)
    others = [another_run(record, 3), another_run(record, 4)]
    rotation, shift = random_rigid_motion(generator=torch.Generator().manual_seed(5))
    moved = with_reference_poses(transform_record(record, rotation, shift), others)["ligand"].reference_pos
    still = with_reference_poses(record, others)["ligand"].reference_pos
    assert torch.allclose(moved, still @ rotation.T + shift, atol=1e-10)


def test_reference_poses_of_another_complex_or_pocket_are_refused():
    record = make_record(0, n_lig=5, n_res=9)
    other_ligand = another_run(record, 1)
    other_ligand["ligand"].z = other_ligand["ligand"].z.flip(0) + 1
    with pytest.raises(ValueError, match="other ligand atoms"):
        with_reference_poses(record, [other_ligand])
    other_residues = another_run(record, 1)
    other_residues["residue"].type = (other_residues["residue"].type + 1) % 20
    with pytest.raises(ValueError, match="other protein residues"):
        with_reference_poses(record, [other_residues])
    other_pocket = another_run(record, 1)
    other_pocket["residue"].backbone = other_pocket["residue"].backbone + torch.randn(
        other_pocket["residue"].backbone.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with pytest.raises(ValueError, match=r"RMSD after superposition"):
        with_reference_poses(record, [other_pocket])
    with pytest.raises(ValueError, match="no trajectories"):
        with_reference_poses(record, [])


def test_statistics_pool_reference_poses_with_the_observed_snapshots():
    data = with_references(3, n_lig=4)
    pos, reference = data["ligand"].pos, data["ligand"].reference_pos
    start = torch.full((4,), 3)
    pooled = torch.cat([pos[:, :4], reference], dim=1)                   # snapshots 0..3, then the references
    mean, cov = observed_covariance(pos, start, reference=reference)
    expected = torch.stack([torch.cov(atom.T) for atom in pooled])
    assert torch.allclose(mean, pooled.mean(1)) and torch.allclose(cov, expected)
    _, var = observed_mean_and_spread(pos, start, reference=reference)
    assert torch.allclose(var, expected.diagonal(dim1=-2, dim2=-1).sum(-1) / 3)


def test_meanpose_predicts_the_pooled_mean_and_ignores_nothing():
    data = with_references(4, n_lig=5)
    with torch.no_grad():
        out = MeanPoseBaseline().rollout(data, TIMES)
        bare = MeanPoseBaseline().rollout(make_record(4, n_lig=5, n_res=12), TIMES)
    pooled = torch.cat([data["ligand"].pos[:, :4], data["ligand"].reference_pos], dim=1).mean(1)
    assert torch.allclose(out[1], pooled) and not torch.allclose(out[1], bare[1])


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    models = {
        "meanpose": lambda: MeanPoseBaseline(),
        "stationary-anisotropic": lambda: StationaryBaseline(shape="anisotropic"),
        "stationary-loose-centroid": lambda: StationaryBaseline(centroid_confinement=0.3),
        "ornsteinuhlenbeck-anisotropic": lambda: OrnsteinUhlenbeckBaseline(shape="anisotropic"),
        "history-well": lambda: NeuralMD(BindingNet(hidden=16, num_layers=2), solver="sde", method="baoab",
                                         step_size=0.5, friction=0.5, noise="fdt", kT=2.0, history_prior=True,
                                         prior_shape="anisotropic", velocity_mapping=True),
        "mixture-well": lambda: NeuralMD(BindingNet(hidden=16, num_layers=2), solver="sde", method="baoab",
                                         step_size=0.5, friction=0.5, noise="fdt", kT=2.0, history_prior=True,
                                         prior_shape="anisotropic", local_well_weight=0.4),
        "stationary-mixture": lambda: StationaryBaseline(shape="anisotropic", local_well_weight=0.4),
        "drifting-well": lambda: NeuralMD(BindingNet(hidden=16, num_layers=2), solver="sde", method="baoab",
                                          step_size=0.5, friction=0.5, noise="fdt", kT=2.0, history_prior=True,
                                          prior_shape="anisotropic", velocity_mapping=True, cage_drift=1.5),
        "ornsteinuhlenbeck-drift": lambda: OrnsteinUhlenbeckBaseline(shape="anisotropic", cage_drift=1.5),
    }
    return models[name]().double().eval()


def seeded_ensemble(model):
    """Two sampled rollouts per record (``_dynamics_toys.seeded_ensemble``)."""
    return seeded_rollouts(model, samples=2)


NAMES = ["meanpose", "stationary-anisotropic", "stationary-loose-centroid", "ornsteinuhlenbeck-anisotropic",
         "history-well", "mixture-well", "stationary-mixture", "drifting-well", "ornsteinuhlenbeck-drift"]


@pytest.mark.parametrize("name", NAMES)
def test_history_methods_with_reference_poses_are_equivariant_and_batch_independent(name):
    assert_ensemble_equivariant_and_batch_independent(
        seeded_ensemble(build(name)), lambda seed, n_lig, n_res: with_references(seed, n_lig=n_lig, n_res=n_res))


@pytest.mark.parametrize("name", ["stationary-anisotropic", "history-well", "mixture-well", "stationary-mixture",
                                  "drifting-well", "ornsteinuhlenbeck-drift"])
def test_history_methods_with_reference_poses_see_chirality_and_use_them(name):
    model = build(name)
    data = with_references(3)
    assert_reflection_sensitive(seeded_ensemble(model), data, output="position", min_relative_difference=1e-6)
    bare = make_record(3, n_lig=7, n_res=12)
    assert (seeded_ensemble(model)(data) - seeded_ensemble(model)(bare)).abs().max() > 1e-3


@pytest.fixture()
def one_complex_file(tmp_path: Path) -> Path:
    """Four runs of one complex (float32 as MISATO stores them), named as T4L's are."""
    record = make_record(0, n_lig=6, n_res=10, T=12, dtype=torch.float32)
    record.id, record.dt_ps = "C_00", 0.5
    runs = [record] + [another_run(record, k) for k in (1, 2, 3)]
    for k, run in enumerate(runs):
        run.id = f"C_{k:02d}"
    return write_misato(runs, tmp_path / "one_complex.hdf5")


def write_splits(folder: Path, train: str = "C_00\nC_01\n") -> Path:
    """MISATO split lists for :func:`one_complex_file`: ``train``, then C_02 validates and C_03 tests."""
    folder.mkdir()
    for split, ids in (("train", train), ("val", "C_02\n"), ("test", "C_03\n")):
        (folder / f"{split}_MD.txt").write_text(ids)
    (folder / "peptides.txt").write_text("")
    return folder


def test_the_benchmark_pools_training_runs_for_the_multi_task(one_complex_file: Path, tmp_path: Path):
    sys.path.insert(0, str(ROOT))
    from benchmarks import accuracy

    out = tmp_path / "rows.jsonl"
    common = ["--data", str(one_complex_file), "--task", "multi", "--train", "C_00", "C_01", "--test", "C_02",
              "--methods", "MeanPose", "Static", "--seeds", "0", "--multi-start", "3", "--samples", "2",
              "--out", str(out)]
    accuracy.main(common)
    accuracy.main([*common, "--reference-poses"])
    rows = {r["method"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"MeanPose", "Static", "MeanPose, reference poses", "Static, reference poses"}
    assert rows["MeanPose, reference poses"]["reference_poses"] is True
    assert rows["MeanPose, reference poses"]["mae"] != rows["MeanPose"]["mae"]
    assert rows["Static, reference poses"]["mae"] == rows["Static"]["mae"]          # Static reads no history
    assert rows["MeanPose, reference poses"]["test_sha1"] == rows["MeanPose"]["test_sha1"]
    with pytest.raises(SystemExit):
        accuracy.main(["--data", str(one_complex_file), "--task", "single", "--trajectories", "C_00",
                       "--reference-poses", "--out", str(out)])
    accuracy.main([*common, "--reference-poses", "--local-well-weight", "0.3", "--methods", "Stationary (anisotropic)"])
    assert json.loads(out.read_text().splitlines()[-1])["method"] == (
        "Stationary (anisotropic), reference poses, local well weight 0.3")
    for refused in (["--methods", "OrnsteinUhlenbeck (anisotropic)"], ["--methods", "Static"]):
        with pytest.raises(SystemExit, match="--local-well-weight mixes"):
            accuracy.main([*common, "--reference-poses", "--local-well-weight", "0.3", *refused])
    with pytest.raises(SystemExit):                       # the mixture needs the reference poses
        accuracy.main([*common, "--local-well-weight", "0.3"])


def test_a_split_gets_the_other_runs_of_its_own_complex_and_never_itself():
    first, second = make_record(0, n_lig=5, n_res=9), make_record(1, n_lig=6, n_res=9)
    runs = [first, another_run(first, 1), another_run(first, 2), second, another_run(second, 3)]
    attached = attach_reference_poses(runs, runs)
    assert [r["ligand"].reference_pos.shape[1] for r in attached] == [16] * 5      # padded to the most
    poses = attached[3]["ligand"].reference_pos
    assert torch.allclose(poses[:, :8], another_run(second, 3, moved=False)["ligand"].pos, atol=1e-10)
    assert poses[:, 8:].isnan().all() and torch.isfinite(attached[0]["ligand"].reference_pos).all()
    assert same_complex(runs[0], runs[2]) and not same_complex(runs[0], runs[3])
    with pytest.raises(ValueError, match=f"complex {second.id}: none of the 3 source"):
        attach_reference_poses([second], runs[:3])


def test_the_cli_attaches_training_runs_with_data_reference_poses(one_complex_file: Path, tmp_path: Path):
    from omegaconf import OmegaConf

    from neuralmd.cli import UsageError
    from neuralmd.cli._build import build_task

    splits = write_splits(tmp_path / "splits")
    cfg = OmegaConf.create({"kind": "misato", "path": str(one_complex_file), "splits": str(splits), "start": 3,
                            "reference_poses": True, "progress": False})
    task = build_task(cfg)
    assert task.name.endswith("reference poses")
    assert [r["ligand"].reference_pos.shape[1] for r in (*task.train, *task.val, *task.test)] == [12, 12, 24, 24]
    cfg.reference_poses = False
    assert "reference_pos" not in build_task(cfg).test[0]["ligand"]
    (splits / "train_MD.txt").write_text("C_00\n")
    cfg.reference_poses = True
    with pytest.raises(UsageError, match="data.reference_poses=true needs other training trajectories"):
        build_task(cfg)


@pytest.mark.parametrize("name", NAMES)
def test_padding_changes_nothing_and_complexes_with_fewer_runs_batch(name):
    first, second = make_record(0, n_lig=5, n_res=9), make_record(1, n_lig=6, n_res=9)
    runs = [first, another_run(first, 1), another_run(first, 2), second, another_run(second, 3)]
    padded = attach_reference_poses([first, second], runs)
    alone = with_reference_poses(second, [runs[4]])                       # the same poses, unpadded
    model = build(name)
    assert torch.allclose(seeded_ensemble(model)(padded[1]), seeded_ensemble(model)(alone), atol=1e-12)
    assert_batch_independent(seeded_ensemble(model), padded, atom_dim=-2, atol=1e-10)
    assert torch.isfinite(seeded_ensemble(model)(padded[1])).all()


def test_simulate_pools_the_references_it_is_given(one_complex_file: Path, tmp_path: Path):
    from neuralmd.cli import main

    splits = write_splits(tmp_path / "splits")
    run = tmp_path / "run"
    assert main(["train", "data=misato", f"data.path={one_complex_file}", f"data.splits={splits}", "data.start=3",
                 "model=meanpose", "baselines=[]", "export_formats=[]", f"run_dir={run}"]) == 0
    common = ["simulate", f"checkpoint={run}", f"complex={one_complex_file}:C_03", "snapshots=2", "start=5"]
    assert main([*common, f"output={tmp_path / 'alone.pt'}"]) == 0
    assert main([*common, f"references=[{one_complex_file}:C_00,{one_complex_file}:C_01]",
                 f"output={tmp_path / 'pooled.pt'}"]) == 0
    alone, pooled = (torch.load(tmp_path / f"{n}.pt", weights_only=False)["traj"] for n in ("alone", "pooled"))
    assert not torch.allclose(alone[1], pooled[1])            # MeanPose moved to the pooled mean
    assert main([*common, "references=[synthetic:0]"]) == 2   # another complex: one clear usage error


@pytest.mark.parametrize("shape", ["isotropic", "anisotropic"])
def test_the_mixture_well_is_kT_times_the_score_of_the_mixture(shape):
    records = [with_references(i, n_lig=4 + i, n_res=9) for i in range(2)]
    data = Batch.from_data_list(records)
    pos, reference = data["ligand"].pos, data["ligand"].reference_pos
    start = torch.full((pos.shape[0],), 3)
    kT, floor, w = torch.tensor(1.7, dtype=torch.float64), 0.05, 0.3
    force = mixture_well(pos, start, kT, floor=floor, shape=shape, reference=reference, local_weight=w,
                         batch=data["ligand"].batch, num=2)
    x = (pos[:, 5] + 0.2).clone().requires_grad_(True)
    log_density = torch.zeros((), dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    for c in range(2):                                        # the mixture's log-density, complex by complex
        atoms = data["ligand"].batch == c
        parts = []
        for ref, weight in ((None, w), (reference, 1 - w)):
            if shape == "anisotropic":
                mean, cov = observed_covariance(pos[atoms], start[atoms], reference=None if ref is None else ref[atoms])
            else:
                mean, var = observed_mean_and_spread(pos[atoms], start[atoms],
                                                     reference=None if ref is None else ref[atoms])
                cov = var.view(-1, 1, 1) * eye
            normal = torch.distributions.MultivariateNormal(mean, cov + floor * eye)
            parts.append(math.log(weight) + normal.log_prob(x[atoms]).sum())
        log_density = log_density + torch.logsumexp(torch.stack(parts), 0)
    (score,) = torch.autograd.grad(log_density, x)
    assert torch.allclose(force(x.detach()), kT * score, atol=1e-10)


def test_a_mixture_well_without_reference_poses_is_the_plain_well_and_bad_weights_are_refused():
    data = make_record(2, n_lig=5, n_res=9)
    with torch.no_grad():
        plain = seeded_ensemble(build("history-well"))(data)
        torch.manual_seed(0)
        model = build("mixture-well")
        model.velocity_mapper = build("history-well").velocity_mapper
    assert torch.allclose(seeded_ensemble(model)(data), plain, atol=1e-12)
    for bad in (0, 1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="local_well_weight must be None or a number in"):
            StationaryBaseline(local_well_weight=bad)
        with pytest.raises(ValueError, match="local_well_weight must be None or a number in"):
            NeuralMD(BindingNet(hidden=8, num_layers=1), solver="sde", method="baoab", friction=0.5, noise="fdt",
                     history_prior=True, local_well_weight=bad)
    with pytest.raises(ValueError, match="needs history_prior=True"):
        NeuralMD(BindingNet(hidden=8, num_layers=1), solver="sde", method="baoab", friction=0.5, noise="fdt",
                 local_well_weight=0.5)


def test_the_stationary_mixture_draws_the_local_gaussian_with_its_weight():
    data = with_references(5, n_lig=4)
    start = torch.full((4,), 3)
    local, _ = observed_covariance(data["ligand"].pos, start)
    pooled, _ = observed_covariance(data["ligand"].pos, start, reference=data["ligand"].reference_pos)
    with torch.no_grad():
        draws = StationaryBaseline(shape="anisotropic", local_well_weight=0.3).rollout(
            data, torch.arange(3, 3 + 400), generator=torch.Generator().manual_seed(1))[1:]
    # the draws' mean sits at w of the way from the pooled mean to the local one (projected)
    gap = local - pooled
    share = float(((draws.mean(0) - pooled) * gap).sum() / gap.square().sum())
    assert abs(share - 0.3) < 0.08, share
