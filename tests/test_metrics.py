"""Metrics against hand-computed cases, batch independence, and input checks."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralmd.metrics import (
    COVALENT_RADII,
    clash_rate,
    covalent_radius,
    mae,
    matching,
    mean_l2,
    rmsd,
    rmsf,
    snapshots_per_second,
    stability,
)

PAIRWISE = (mae, mean_l2, rmsd, matching, stability)


def line_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Three collinear atoms a, b, c at x = 0, 1, 3 for 2 snapshots; pred moves b to x = 2 at t = 1.

    Per-atom errors: only b at t = 1, by (1, 0, 0). Distances at t = 1, pred vs target:
    ab 2 vs 1, bc 1 vs 2, ac 3 vs 3, so |d_pred - d_target| = 1, 1, 0.
    """
    target = torch.zeros(2, 3, 3, dtype=torch.float64)
    target[:, 1, 0], target[:, 2, 0] = 1.0, 3.0
    pred = target.clone()
    pred[1, 1, 0] = 2.0
    return pred, target


def pair_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Two atoms 1 Å apart along y for 2 snapshots; pred stretches the pair to 1.5 Å at t = 0 and
    3 Å at t = 1 by moving atom 1, so errors are 0.5 and 2 Å and |d_pred - d_target| = 0.5 and 2."""
    target = torch.zeros(2, 2, 3, dtype=torch.float64)
    target[:, 1, 1] = 1.0
    pred = target.clone()
    pred[0, 1, 1], pred[1, 1, 1] = 1.5, 3.0
    return pred, target


def test_reconstruction_by_hand():
    pred, target = line_case()
    # One error of 1 Å in one coordinate among 2 snapshots x 3 atoms x 3 coordinates = 18 numbers.
    assert mae(pred, target) == pytest.approx(1 / 18)
    # One error of norm 1 among 2 x 3 = 6 (snapshot, atom) terms.
    assert mean_l2(pred, target) == pytest.approx(1 / 6)
    assert rmsd(pred, target) == pytest.approx(math.sqrt(1 / 6))


def test_mean_l2_is_the_norm_not_the_coordinate_mean():
    target = torch.zeros(1, 1, 3)
    pred = torch.tensor([[[0.0, 3.0, 4.0]]])
    assert mean_l2(pred, target) == pytest.approx(5.0)     # |(0, 3, 4)| = 5
    assert mae(pred, target) == pytest.approx(7 / 3)       # (0 + 3 + 4) / 3
    assert rmsd(pred, target) == pytest.approx(5.0)


def test_matching_and_stability_by_hand():
    pred, target = line_case()
    # t = 0 is exact (0 Å, 100 %). t = 1: pairs i < j give deviations 1, 1, 0, so matching is
    # sqrt((1 + 1 + 0) / 3) and 1 of 3 pairs is within 0.5 Å. Including the zero diagonal of the
    # 3 x 3 matrix would give sqrt(4 / 9) = 2/3 instead, so this also pins the pair set.
    assert matching(pred, target) == pytest.approx(math.sqrt(2 / 3) / 2)
    assert stability(pred, target) == pytest.approx((100 + 100 / 3) / 2)


def test_stability_threshold_is_inclusive():
    pred, target = pair_case()
    # t = 0 deviation is exactly 0.5 (within), t = 1 deviation is 2 (outside).
    assert stability(pred, target) == pytest.approx(50.0)
    assert stability(pred, target, threshold=2.0) == pytest.approx(100.0)
    assert matching(pred, target) == pytest.approx((0.5 + 2.0) / 2)


def test_rmsf_by_hand():
    # One atom at x = 0, 0, 0, 0, 5: window mean 1, squared deviations 1, 1, 1, 1, 16 -> mean 4.
    x = torch.tensor([0.0, 0, 0, 0, 5, 5, 5, 5, 5, 5, 5, 5])
    traj = torch.zeros(12, 1, 3, dtype=torch.float64)
    traj[:, 0, 0] = x
    # Non-overlapping windows [0, 5) and [5, 10); snapshots 10, 11 do not fill a window.
    assert rmsf(traj) == pytest.approx([2.0, 0.0])
    # Stride 1, first two windows: x = 0,0,0,0,5 -> 2; x = 0,0,0,5,5 -> mean 2,
    # squared deviations 4, 4, 4, 9, 9 -> mean 6.
    assert rmsf(traj, stride=1)[:2] == pytest.approx([2.0, math.sqrt(6)])
    assert len(rmsf(traj, stride=1)) == 8


def test_rmsf_averages_atoms_inside_the_root():
    # Eq. (2): sqrt(mean_t (1/N) sum_i |r - <r>|^2). Atom 0 moves as above (4), atom 1 is still (0):
    # sqrt((4 + 0) / 2) = sqrt(2), not the mean of per-atom values (2 + 0) / 2 = 1.
    traj = torch.zeros(5, 2, 3, dtype=torch.float64)
    traj[4, 0, 0] = 5.0
    assert rmsf(traj) == pytest.approx([math.sqrt(2)])


def test_clash_rate_by_hand():
    # Carbons: clash below 0.5 x (0.76 + 0.76) = 0.76 Å. a = 0, c = 10 on x; b at 0.5 (t = 0),
    # then 1.5 (t = 1, a normal C-C bond length, so no clash).
    pos = torch.zeros(2, 3, 3, dtype=torch.float64)
    pos[0, 1, 0], pos[1, 1, 0], pos[:, 2, 0] = 0.5, 1.5, 10.0
    z = torch.tensor([6, 6, 6])
    assert clash_rate(pos, z) == pytest.approx((100 / 3 + 0) / 2)
    # Backbone N at (0, 0, 0.7): below 0.5 x (0.76 + 0.71) = 0.735 from a, not from b
    # (sqrt(0.25 + 0.49) = 0.86 at t = 0). CA and C far away. 3 ligand pairs + 3 x 3 = 12 pairs:
    # t = 0: ab and a-N clash (2/12); t = 1: only a-N (1/12).
    backbone = torch.tensor([[[0.0, 0.0, 0.7], [50.0, 0, 0], [51.0, 0, 0]]], dtype=torch.float64)
    assert clash_rate(pos, z, backbone) == pytest.approx((200 / 12 + 100 / 12) / 2)
    # A looser factor makes b-c (8.5 Å at t = 1) still no clash but t = 1 a-b (1.5 < 1.52) one.
    assert clash_rate(pos, z, factor=1.0) == pytest.approx((100 / 3 + 100 / 3) / 2)


def test_clash_rate_uses_element_radii():
    # Two hydrogens 0.4 Å apart: limit 0.31 -> no clash; as carbons the limit is 0.76 -> clash.
    pos = torch.tensor([[[0.0, 0, 0], [0.4, 0, 0]]])
    assert clash_rate(pos, torch.tensor([1, 1])) == 0.0
    assert clash_rate(pos, torch.tensor([6, 6])) == 100.0


def two_complexes(seed: int = 0) -> dict[str, torch.Tensor]:
    """A 3-atom and a 2-atom complex, with atoms interleaved in the batch and labels with a gap."""
    g = torch.Generator().manual_seed(seed)
    pa, ta = (torch.randn(6, 3, 3, generator=g, dtype=torch.float64) for _ in range(2))
    pb, tb = (torch.randn(6, 2, 3, generator=g, dtype=torch.float64) for _ in range(2))
    order = torch.tensor([0, 3, 1, 4, 2])                   # a0, b0, a1, b1, a2
    batch = torch.tensor([2, 7, 2, 7, 2])
    return dict(pa=pa, ta=ta, pb=pb, tb=tb, pred=torch.cat([pa, pb], 1)[:, order],
                target=torch.cat([ta, tb], 1)[:, order], batch=batch)


@pytest.mark.parametrize("metric", PAIRWISE)
def test_batched_is_mean_of_separate(metric):
    c = two_complexes()
    alone = (metric(c["pa"], c["ta"]) + metric(c["pb"], c["tb"])) / 2
    assert metric(c["pred"], c["target"], c["batch"]) == pytest.approx(alone, rel=1e-12)
    # Equal weight per complex, not per atom: pooling all 5 atoms would differ.
    pooled = metric(c["pred"], c["target"])
    assert pooled != pytest.approx(alone, rel=1e-6)


def test_rmsf_and_clash_batched_is_mean_of_separate():
    c = two_complexes(1)
    curve = rmsf(c["pred"], batch=c["batch"], stride=1)
    a, b = rmsf(c["pa"], stride=1), rmsf(c["pb"], stride=1)
    assert curve == pytest.approx([(x + y) / 2 for x, y in zip(a, b)], rel=1e-12)

    za, zb = torch.tensor([6, 7, 8]), torch.tensor([6, 6])
    z = torch.cat([za, zb])[torch.tensor([0, 3, 1, 4, 2])]
    bb = torch.randn(4, 3, 3, dtype=torch.float64) * 0.5    # dense, so clashes do occur
    residue_batch = torch.tensor([7, 2, 2, 7])
    alone = (clash_rate(c["pa"] * 0.5, za, bb[1:3]) + clash_rate(c["pb"] * 0.5, zb, bb[[0, 3]])) / 2
    batched = clash_rate(c["pred"] * 0.5, z, bb, c["batch"], residue_batch)
    assert alone > 0
    assert batched == pytest.approx(alone, rel=1e-12)


def test_no_pair_crosses_complexes():
    # Each complex is predicted perfectly up to its own rigid shift, and complex B is put on top of
    # complex A in the prediction. Any cross-complex pair would show as an error or a clash.
    target = torch.zeros(2, 4, 3, dtype=torch.float64)
    target[:, 1, 0] = 1.5
    target[:, 2:] = target[:, :2] + torch.tensor([20.0, 0, 0])
    pred = target.clone()
    pred[:, 2:] -= torch.tensor([20.0, 0, 0])               # B now coincides with A
    batch = torch.tensor([0, 0, 1, 1])
    z = torch.tensor([6, 6, 6, 6])
    assert matching(pred, target, batch) == 0.0
    assert stability(pred, target, batch) == 100.0
    assert clash_rate(pred, z, batch=batch) == 0.0
    assert clash_rate(pred, z) == pytest.approx(100 * 2 / 6)  # as one complex: a0-b0, a1-b1 clash
    # In the target, a residue of complex B sits on complex A's ligand: not a clash, as it is
    # another complex's protein. Assigned to complex A instead, it clashes.
    on_a = torch.tensor([[0.0, 0, 0], [1.5, 0, 0], [0.0, -50, 0]], dtype=torch.float64)
    backbone = torch.stack([on_a, on_a + 100.0])
    assert clash_rate(target, z, backbone, batch, torch.tensor([1, 0])) == 0.0
    assert clash_rate(target, z, backbone, batch, torch.tensor([0, 1])) > 0.0


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3), steps=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_batched_equals_separate_property(sizes, steps, seed):
    g = torch.Generator().manual_seed(seed)
    parts = [(torch.randn(steps, n, 3, generator=g, dtype=torch.float64),
              torch.randn(steps, n, 3, generator=g, dtype=torch.float64)) for n in sizes]
    pred = torch.cat([p for p, _ in parts], 1)
    target = torch.cat([t for _, t in parts], 1)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    for metric in (mae, mean_l2, rmsd):
        alone = sum(metric(p, t) for p, t in parts) / len(parts)
        assert metric(pred, target, batch) == pytest.approx(alone, rel=1e-10)
    with_pairs = [(p, t) for p, t in parts if p.shape[1] > 1]
    for metric in (matching, stability):
        if not with_pairs:
            with pytest.raises(ValueError, match="pair"):
                metric(pred, target, batch)
            continue
        alone = sum(metric(p, t) for p, t in with_pairs) / len(with_pairs)
        assert metric(pred, target, batch) == pytest.approx(alone, rel=1e-10, abs=1e-12)


def test_distance_metrics_ignore_a_rigid_motion_of_the_prediction():
    c = two_complexes(2)
    rot = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64)).Q
    moved = c["pa"] @ rot.T + torch.tensor([3.0, -2.0, 1.0], dtype=torch.float64)
    assert matching(moved, c["ta"]) == pytest.approx(matching(c["pa"], c["ta"]), rel=1e-10)
    assert stability(moved, c["ta"]) == pytest.approx(stability(c["pa"], c["ta"]))
    assert mae(moved, c["ta"]) != pytest.approx(mae(c["pa"], c["ta"]))


def test_float_results_and_float32_input():
    pred, target = line_case()
    value = rmsd(pred.float(), target.float())
    assert type(value) is float and value == pytest.approx(math.sqrt(1 / 6))
    assert all(type(v) is float for v in rmsf(pred.float()[[0, 1, 0, 1, 0]]))


@pytest.mark.parametrize("metric", PAIRWISE)
def test_bad_shapes_raise(metric):
    pred, target = line_case()
    with pytest.raises(ValueError, match="shapes differ"):
        metric(pred, target[:, :2])
    with pytest.raises(ValueError, match=r"\(T, N, 3\)"):
        metric(pred[0], target[0])
    with pytest.raises(ValueError, match="batch must have shape"):
        metric(pred, target, torch.tensor([0, 1]))
    bad = pred.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        metric(bad, target)


def test_other_bad_inputs_raise():
    pred, _ = line_case()
    with pytest.raises(ValueError, match="at least window"):
        rmsf(pred)
    with pytest.raises(ValueError, match="z must have shape"):
        clash_rate(pred, torch.tensor([6, 6]))
    with pytest.raises(ValueError, match="1..96"):
        clash_rate(pred, torch.tensor([0, 6, 6]))
    with pytest.raises(ValueError, match="residue_batch"):
        clash_rate(pred, torch.tensor([6, 6, 6]), torch.zeros(2, 3, 3), torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="no ligand atom"):
        clash_rate(pred, torch.tensor([6, 6, 6]), torch.zeros(2, 3, 3), torch.tensor([0, 0, 1]),
                   torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="pair"):
        clash_rate(pred[:, :1], torch.tensor([6]))
    with pytest.raises(ValueError, match="seconds"):
        snapshots_per_second(10, 2, 0.0)


def test_covalent_radii_table():
    # Spot checks against Cordero et al. 2008 (sp3 C, low-spin Fe); ASE ships the same table.
    assert covalent_radius(torch.tensor([1, 6, 7, 8, 16, 26])).tolist() == pytest.approx(
        [0.31, 0.76, 0.71, 0.66, 1.05, 1.32])
    ase_data = pytest.importorskip("ase.data")
    assert list(COVALENT_RADII[1:]) == pytest.approx(list(ase_data.covalent_radii[1:97]))


def test_snapshots_per_second():
    # Paper Table 3 counts predicted snapshots x complexes per wall second.
    assert snapshots_per_second(100, 4, 2.0) == 200.0
