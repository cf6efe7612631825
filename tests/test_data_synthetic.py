"""synthetic_trajectories: deterministic, fast, physically plausible toy binding dynamics."""
import copy
import time

import numpy as np
import pytest
import torch

from neuralmd.data import simulate_binding, synthetic_trajectories, validate_record
from neuralmd.data._synthetic import toy_complex
from neuralmd.data._toy_pocket import ideal_segment


@pytest.fixture(scope="module")
def trajs():
    # CPU time, not wall time: other test runs may share the machine's cores
    start = time.process_time()
    out = synthetic_trajectories(4, seed=7)
    return out, (time.process_time() - start) / 4


def _dihedral(a, b, c, d):
    b0, b1, b2 = a - b, c - b, d - c
    b1 = b1 / np.linalg.norm(b1)
    v, w = b0 - np.dot(b0, b1) * b1, b2 - np.dot(b2, b1) * b1
    return np.degrees(np.arctan2(np.dot(np.cross(b1, v), w), np.dot(v, w)))


def test_fast_and_valid(trajs):
    records, seconds = trajs
    assert seconds < 1.0, f"{seconds:.2f} CPU s per trajectory"
    for data in records:
        validate_record(data)
        assert data["ligand"].pos.shape[1] == 100 and data.dt_ps == pytest.approx(0.04)


def test_sizes_in_range(trajs):
    for data in trajs[0]:
        assert 10 <= data["ligand"].z.numel() <= 30
        assert 30 <= data["residue"].type.numel() <= 80
        assert data["residue"].chain.unique().tolist() in ([0], [0, 1])
        assert set(data["ligand"].z.tolist()) <= {6, 7, 8, 9, 16, 17}
        assert set(data["residue"].type.tolist()) <= set(range(2, 23))


def test_deterministic_per_seed_and_index():
    a = synthetic_trajectories(2, seed=3, n_snapshots=5)
    b = synthetic_trajectories(1, seed=3, n_snapshots=5)
    c = synthetic_trajectories(1, seed=4, n_snapshots=5)
    assert torch.equal(a[0]["ligand"].pos, b[0]["ligand"].pos) and a[0].id == b[0].id
    assert not torch.equal(a[0]["ligand"].pos[:, :1], a[1]["ligand"].pos[:, :1][: a[0]["ligand"].z.numel()])
    assert a[0]["ligand"].z.shape != c[0]["ligand"].z.shape or not torch.equal(a[0]["ligand"].pos, c[0]["ligand"].pos)


def test_toy_complex_and_continuation_reproduce_a_trajectory():
    """toy_complex rebuilds a trajectory's pocket and generator state; a run cut after snapshot 1
    and continued from its positions and velocities (same force field via reference=) draws the
    same noise and lands on the same snapshots (benchmarks/synthetic_oracle.py relies on both)."""
    options = {"ligand_atoms": (8, 12), "residues": (20, 25)}
    record = synthetic_trajectories(2, seed=5, n_snapshots=6, **options)[1]
    c = toy_complex(1, 5, **options)
    first, v1 = simulate_binding(c["z"], c["start"], c["sites"], c["rng"], n_snapshots=2, bonds=c["bonds"],
                                 rings=c["rings"], return_velocity=True)
    same_noise = copy.deepcopy(c["rng"])
    rest = simulate_binding(c["z"], first[:, 1], c["sites"], c["rng"], n_snapshots=5, bonds=c["bonds"],
                            rings=c["rings"], reference=c["start"], velocity=v1)
    pos = record["ligand"].pos.double().numpy()
    assert v1.shape == first[:, 0].shape
    np.testing.assert_allclose(first, pos[:, :2], atol=1e-5)
    np.testing.assert_allclose(rest, pos[:, 1:], atol=1e-4)
    # without reference= the continuation would take snapshot 1 as the springs' rest geometry
    moved = simulate_binding(c["z"], first[:, 1], c["sites"], same_noise, n_snapshots=5,
                             bonds=c["bonds"], rings=c["rings"], velocity=v1)
    assert not np.allclose(moved, rest, atol=1e-4)


def test_backbone_geometry_is_real(trajs):
    for data in trajs[0]:
        bb = data["residue"].backbone.double()
        assert torch.allclose((bb[:, 0] - bb[:, 1]).norm(dim=-1), torch.tensor(1.458, dtype=torch.double), atol=1e-3)
        assert torch.allclose((bb[:, 1] - bb[:, 2]).norm(dim=-1), torch.tensor(1.525, dtype=torch.double), atol=1e-3)
        peptide = (bb[1:, 0] - bb[:-1, 2]).norm(dim=-1)
        bonded = peptide < 2.0  # inside a segment; longer gaps are breaks between segments
        assert bonded.float().mean() > 0.7
        assert torch.allclose(peptide[bonded], torch.tensor(1.329, dtype=torch.double), atol=1e-3)


def test_helix_is_right_handed():
    seg = ideal_segment(8, "helix", np.random.default_rng(0), jitter=0.0)
    flat = seg.reshape(-1, 3)  # N0 CA0 C0 N1 CA1 C1 ...
    phi = _dihedral(flat[2], flat[3], flat[4], flat[5])  # C0-N1-CA1-C1
    psi = _dihedral(flat[3], flat[4], flat[5], flat[6])  # N1-CA1-C1-N2
    assert phi == pytest.approx(-57.0, abs=0.5) and psi == pytest.approx(-47.0, abs=0.5)
    rise = np.linalg.norm(seg[7, 1] - seg[0, 1]) / 7  # ~1.5 Å per residue in an alpha helix
    assert 1.3 < rise < 1.7


def test_ligand_moves_but_stays_bound_and_intact(trajs):
    for data in trajs[0]:
        pos = data["ligand"].pos.double()
        ca = data["residue"].backbone[:, 1].double()
        rmsd = ((pos - pos[:, :1]) ** 2).sum(-1).mean(0).sqrt()
        assert 0.5 < rmsd[-1] < 6.0  # jiggles and drifts, a little
        nearest_ca = torch.cdist(pos.transpose(0, 1), ca.expand(pos.shape[1], -1, -1)).amin(dim=(1, 2))
        assert nearest_ca.max() < 8.0  # never leaves the pocket
        d0 = torch.cdist(pos[:, 0], pos[:, 0])
        bonds = (d0 < 1.9) & (d0 > 0)
        dt = torch.cdist(pos.transpose(0, 1), pos.transpose(0, 1))  # (T, N, N)
        assert (dt[:, bonds] - d0[bonds]).abs().max() < 0.4  # no bond breaks
        steps = (pos[:, 1:] - pos[:, :-1]).norm(dim=-1)
        assert 0.1 < steps.mean() < 1.0  # snapshots are neither frozen nor uncorrelated jumps


@pytest.mark.parametrize("n_res", [40, 200])
def test_pocket_hugs_the_ligand_without_clashes(n_res):
    data = synthetic_trajectories(1, seed=9, n_snapshots=2, residues=(n_res, n_res))[0]
    atoms = data["residue"].backbone.double().reshape(-1, 3)
    residue = torch.arange(len(atoms)) // 3
    apart = (residue[:, None] - residue[None]).abs() > 1  # atoms of non-neighbouring residues
    assert torch.cdist(atoms, atoms)[apart].min() > 2.5
    ligand = data["ligand"].pos[:, 0].double()
    ca_to_ligand = torch.cdist(data["residue"].backbone[:, 1].double(), ligand).amin(dim=1)
    assert ca_to_ligand.min() > 3.0 and (ca_to_ligand < 10.0).sum() >= 10  # a real pocket, no overlap
