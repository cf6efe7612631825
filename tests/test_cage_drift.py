"""The drifting cage: the seen snapshots' well whose centre drifts into the pooled pocket
(NeuralMD(cage_drift=), OrnsteinUhlenbeckBaseline(cage_drift=), benchmarks/accuracy --cage-drift)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from _dynamics_toys import make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)
from test_reference_poses import another_run, build, one_complex_file, seeded_ensemble, with_references  # noqa: F401

from neuralmd.data import with_reference_poses

from neuralmd.dynamics import NeuralMD, OrnsteinUhlenbeckBaseline
from neuralmd.dynamics._baselines import cage_and_pocket, observed_gaussian, observed_lag1_correlation
from neuralmd.dynamics._langevin import DriftingWell
from neuralmd.layers import BindingNet
from neuralmd.testing import random_rigid_motion

ROOT = Path(__file__).resolve().parents[1]


def seen_until(data, start: int) -> torch.Tensor:
    return torch.full((data["ligand"].pos.shape[0],), start, dtype=torch.long)


@pytest.mark.parametrize("shape", ["isotropic", "anisotropic"])
def test_cage_and_drift_spread_add_up_to_the_pocket_and_turn_with_the_data(shape):
    data = with_references(1, n_lig=6)
    pos, reference, start = data["ligand"].pos.clone(), data["ligand"].reference_pos, seen_until(data, 3)
    seen = pos[0, :4]
    pos[0, :4] = seen.mean(0) + 6.0 * (seen - seen.mean(0))        # atom 0 rattles more than the pocket spreads
    cage_mean, cage_cov, pocket_mean, root = cage_and_pocket(pos, start, shape, reference=reference)
    own_mean, own_cov = observed_gaussian(pos, start, shape)
    pooled_mean, pooled_cov = observed_gaussian(pos, start, shape, reference=reference)
    assert torch.allclose(cage_mean, own_mean) and torch.allclose(pocket_mean, pooled_mean)
    # cage plus drift is the pocket exactly, and neither is a negative spread
    assert torch.allclose(cage_cov + root @ root, pooled_cov, atol=1e-10)
    assert (torch.linalg.eigvalsh(cage_cov) > -1e-10).all() and (torch.linalg.eigvalsh(root @ root) > -1e-10).all()
    # the seen spread is kept where the pocket is broader, and capped at the pocket's where it is not
    inside = torch.linalg.eigvalsh(pooled_cov - own_cov).min(-1).values > 0
    assert inside.any() and (~inside).any()
    assert torch.allclose(cage_cov[inside], own_cov[inside], atol=1e-10)
    assert (torch.linalg.eigvalsh(own_cov - cage_cov) > -1e-10).all()          # never broader than seen
    if shape == "isotropic":
        assert torch.allclose(cage_cov, torch.minimum(own_cov, pooled_cov), atol=1e-12)
    rotation, shift = random_rigid_motion(generator=torch.Generator().manual_seed(2))
    moved = cage_and_pocket(pos @ rotation.T + shift, start, shape, reference=reference @ rotation.T + shift)
    assert torch.allclose(moved[1], rotation @ cage_cov @ rotation.T, atol=1e-10)
    assert torch.allclose(moved[2], pocket_mean @ rotation.T + shift, atol=1e-10)
    assert torch.allclose(moved[3], rotation @ root @ rotation.T, atol=1e-10)


def test_the_centre_moves_as_an_exact_ornstein_uhlenbeck_process():
    data = with_references(2, n_lig=3)
    pos, reference, start = data["ligand"].pos, data["ligand"].reference_pos, seen_until(data, 4)
    kT = torch.tensor(1.7, dtype=pos.dtype)
    well = DriftingWell(pos, start, kT, floor=0.01, shape="anisotropic", reference=reference, drift_time=2.0)
    cage_mean, cage_cov, pocket_mean, root = cage_and_pocket(pos, start, "anisotropic", reference=reference)
    x = pos[:, 5]
    expected = kT * torch.linalg.solve(cage_cov + 0.01 * torch.eye(3, dtype=pos.dtype), (cage_mean - x).unsqueeze(-1))
    assert torch.allclose(well(x), expected.squeeze(-1), atol=1e-10)    # the cage's pull, from its own mean
    unit = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=pos.dtype)
    well.advance(0.5, unit)
    e = math.exp(-0.25)
    step = pocket_mean + e * (cage_mean - pocket_mean) + math.sqrt(1 - e * e) * (root @ unit.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(well.centre, step, atol=1e-12)
    # in the long run the centre samples the pocket's mean and the spread it adds to the cage
    g = torch.Generator().manual_seed(1)
    centres = []
    for _ in range(6000):
        well.advance(2.0, torch.randn(x.shape, generator=g, dtype=pos.dtype))
        centres.append(well.centre)
    centres = torch.stack(centres)                                      # (S, N, 3), lag-1 correlation e^-1
    spread = torch.einsum("sni,snj->nij", centres - pocket_mean, centres - pocket_mean) / len(centres)
    scale = (root @ root).diagonal(dim1=-2, dim2=-1).sum(-1).view(-1, 1, 1)
    assert ((spread - root @ root).abs() / scale).max() < 0.08             # a factor 2 would be 1.0 off
    assert ((centres.mean(0) - pocket_mean).norm(dim=-1) / scale.view(-1).sqrt()).max() < 0.08


def test_without_reference_poses_the_drifting_well_is_the_plain_well_bit_for_bit():
    data = make_record(2, n_lig=5, n_res=9)
    plain = seeded_ensemble(build("history-well"))(data)
    assert torch.equal(seeded_ensemble(build("drifting-well"))(data), plain)
    assert torch.equal(seeded_ensemble(OrnsteinUhlenbeckBaseline(shape="anisotropic", cage_drift=2.0))(data),
                       seeded_ensemble(OrnsteinUhlenbeckBaseline(shape="anisotropic"))(data))


def test_the_drift_keeps_its_speed_in_snapshot_intervals_whatever_the_time_scale():
    data = with_references(3)
    model = build("drifting-well")
    model.time_scale = 2.5
    start = seen_until(data, 2)
    well = model.prior(data, start)
    assert isinstance(well, DriftingWell) and well.drift_time == pytest.approx(1.5 * 2.5)
    # a drift far slower than the rollout keeps that cage for good; a fast one leaves it
    model.cage_drift = 1e9
    slow = seeded_ensemble(model)(data)
    model.cage_drift = 1.5
    assert (seeded_ensemble(model)(data) - slow).abs().max() > 1e-3


def test_the_ornstein_uhlenbeck_drift_has_the_two_scale_law():
    # a slow trajectory (lag-1 correlation about 0.9), so that both scales matter two snapshots ahead
    record = make_record(4, n_lig=4, T=30, motion="linear")
    data = with_reference_poses(record, [another_run(record, 1), another_run(record, 2)])
    pos, reference = data["ligand"].pos, data["ligand"].reference_pos
    model = OrnsteinUhlenbeckBaseline(shape="anisotropic", cage_drift=3.0).double()
    with torch.no_grad():
        draws = model.rollout(data, [20, 22], generator=torch.Generator().manual_seed(0), samples=8000)[:, 1]
    start = seen_until(data, 20)
    cage_mean, cage_cov, pocket_mean, root = cage_and_pocket(pos, start, "anisotropic", reference=reference)
    phi = observed_lag1_correlation(pos, start).view(-1, 1, 1)
    e = math.exp(-2 / 3.0)
    assert (phi > 0.8).all()
    mean = pocket_mean + e * (cage_mean - pocket_mean) + phi.view(-1, 1) ** 2 * (pos[:, 20] - cage_mean)
    cov = (1 - phi ** 4) * cage_cov + (1 - e * e) * root @ root
    found = torch.einsum("kni,knj->nij", draws - mean, draws - mean) / len(draws)
    scale = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
    assert ((draws.mean(0) - mean).norm(dim=-1) / scale.sqrt()).max() < 0.05
    assert ((found - cov).abs() / scale.view(-1, 1, 1)).max() < 0.05


def langevin(**options) -> NeuralMD:
    base = dict(solver="sde", method="baoab", friction=0.5, noise="fdt", history_prior=True, cage_drift=5.0)
    return NeuralMD(BindingNet(hidden=8, num_layers=1), **{**base, **options})


def test_bad_drifts_and_combinations_are_refused():
    for bad in (0, -1.0, float("nan"), float("inf"), True, "5"):
        with pytest.raises(ValueError, match="cage_drift must be None or a positive number"):
            OrnsteinUhlenbeckBaseline(cage_drift=bad)
        with pytest.raises(ValueError, match="cage_drift must be None or a positive number"):
            langevin(cage_drift=bad)
    for options, message in ((dict(history_prior=False), "needs history_prior=True"),
                             (dict(method="euler"), "needs method='baoab'"),
                             (dict(local_well_weight=0.3), "does not combine"),
                             (dict(centroid_confinement=0.5), "does not combine"),
                             (dict(score_weight=0.1), "score_weight=0")):
        with pytest.raises(ValueError, match=message):
            langevin(**options)
    data = with_references(1)
    model = langevin()
    x0, v0 = data["ligand"].pos[:, 3], data["ligand"].pos[:, 3] - data["ligand"].pos[:, 2]
    with pytest.raises(ValueError, match="train with loss='energy'"):
        model.transition(data, x0, v0, start=seen_until(data, 3))


def test_the_benchmark_trains_in_the_drifting_well_and_labels_the_rows(one_complex_file: Path, tmp_path: Path):
    sys.path.insert(0, str(ROOT))
    from benchmarks import accuracy

    out = tmp_path / "rows.jsonl"
    common = ["--data", str(one_complex_file), "--task", "multi", "--train", "C_00", "C_01", "--test", "C_02",
              "--seeds", "0", "--multi-start", "3", "--samples", "2", "--out", str(out)]
    accuracy.main([*common, "--reference-poses", "--cage-drift", "4", "--methods", "OrnsteinUhlenbeck (anisotropic)"])
    accuracy.main([*common, "--reference-poses", "--methods", "OrnsteinUhlenbeck (anisotropic)"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["method"] for r in rows] == ["OrnsteinUhlenbeck (anisotropic), reference poses, cage drift 4",
                                           "OrnsteinUhlenbeck (anisotropic), reference poses"]
    assert rows[0]["cage_drift"] == 4 and rows[1]["cage_drift"] is None
    assert rows[0]["energy_score"] != rows[1]["energy_score"]
    with pytest.raises(SystemExit, match="--cage-drift moves the cage"):
        accuracy.main([*common, "--reference-poses", "--cage-drift", "4", "--methods", "Stationary (anisotropic)"])
    for refused in (["--cage-drift", "4"],                                  # no reference poses
                    ["--reference-poses", "--cage-drift", "0"],
                    ["--reference-poses", "--cage-drift", "4", "--local-well-weight", "0.3"]):
        with pytest.raises(SystemExit):
            accuracy.main([*common, *refused, "--methods", "OrnsteinUhlenbeck (anisotropic)"])


def test_the_model_configs_take_a_cage_drift():
    from neuralmd.cli._build import UsageError, build_model, model_config

    assert build_model("neuralmd_langevin")[0].cage_drift is None
    assert build_model("ornsteinuhlenbeck")[0].cage_drift is None
    well = {**model_config("neuralmd_langevin"), "history_prior": True, "prior_shape": "anisotropic", "cage_drift": 5}
    assert build_model(well)[0].cage_drift == 5.0
    assert build_model({**model_config("ornsteinuhlenbeck"), "cage_drift": 5})[0].cage_drift == 5.0
    with pytest.raises(UsageError, match="needs history_prior=True"):
        build_model({**model_config("neuralmd_langevin"), "cage_drift": 5})
