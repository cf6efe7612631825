"""BindingNetLigand (and its blocks) on its own: invariant h, equivariant vec, velocity input."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNetLigand
from neuralmd.testing import (
    assert_batch_independent,
    assert_equivariant,
    assert_reflection_sensitive,
    random_rigid_motion,
    transform_record,
)

torch.manual_seed(1)
LIGAND = BindingNetLigand(hidden=16, num_layers=3).double()


def velocity(d):
    """A per-atom velocity from two snapshots: a true vector, translation invariant."""
    return d["ligand"].pos[:, 1] - d["ligand"].pos[:, 0]


def run(d, with_velocity=True):
    batch = d["ligand"].batch if "batch" in d["ligand"] else None
    return LIGAND(d["ligand"].z, d["ligand"].pos[:, 0], batch, velocity(d) if with_velocity else None)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10**6), num_atoms=st.integers(5, 20))
def test_vec_is_equivariant_and_h_invariant(seed, num_atoms):
    data = random_record(seed, num_atoms)
    assert_equivariant(lambda d: run(d)[1], data, trials=2)
    assert_equivariant(lambda d: run(d, with_velocity=False)[1], data, trials=1)
    moved = transform_record(data, *random_rigid_motion(generator=torch.Generator().manual_seed(seed)))
    torch.testing.assert_close(run(moved)[0], run(data)[0], atol=1e-10, rtol=0)


def test_velocity_input_is_used_and_mapped_equivariantly():
    data = random_record(2, 12)
    with_v, without_v = run(data)[1], run(data, with_velocity=False)[1]
    assert (with_v - without_v).abs().max() > 1e-3
    assert_reflection_sensitive(lambda d: run(d)[1], data, min_relative_difference=1e-4)


def test_ligand_batch_independent():
    records = [random_record(s, 4 + 2 * s) for s in range(3)]
    assert_batch_independent(lambda d: run(d)[1], records)
    assert_batch_independent(lambda d: run(d)[0], records, atom_dim=0)


def test_single_atom_and_isolated_atoms_keep_their_input_vector():
    z = torch.tensor([6, 8])
    pos = torch.tensor([[0.0, 0, 0], [50.0, 0, 0]], dtype=torch.float64)  # beyond the cutoff
    vec = torch.tensor([[1.0, 2, 3], [-1.0, 0, 1]], dtype=torch.float64)
    h, out = LIGAND(z, pos, vec=vec)
    torch.testing.assert_close(out, vec)
    assert torch.isfinite(h).all()
    h1, out1 = LIGAND(z[:1], pos[:1])
    assert out1.abs().max() == 0 and torch.isfinite(h1).all()


def test_bad_input():
    with pytest.raises(ValueError, match="atom types"):
        LIGAND(torch.tensor([6, 200]), torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="vec"):
        LIGAND(torch.tensor([6, 6]), torch.zeros(2, 3, dtype=torch.float64), vec=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="no atoms"):
        LIGAND(torch.zeros(0, dtype=torch.long), torch.zeros(0, 3))
