"""E3nnLigand: the spherical-harmonic ligand block passes the same symmetry checks as BindingNetLigand."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNetLigand, E3nnLigand
from neuralmd.testing import (
    assert_batch_independent,
    assert_equivariant,
    assert_reflection_sensitive,
    random_rigid_motion,
    transform_record,
)

torch.manual_seed(4)
BLOCK = E3nnLigand(hidden=16, num_layers=3).double()


def run(d, with_velocity=True):
    lig = d["ligand"]
    batch = lig.batch if "batch" in lig else None
    vec = lig.pos[:, 1] - lig.pos[:, 0] if with_velocity else None
    return BLOCK(lig.z, lig.pos[:, 0], batch, vec)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10**6), num_atoms=st.integers(5, 20))
def test_equivariant_vec_and_invariant_h(seed, num_atoms):
    data = random_record(seed, num_atoms)
    assert_equivariant(lambda d: run(d)[1], data, trials=2)
    assert_equivariant(lambda d: run(d, with_velocity=False)[1], data, trials=1)
    moved = transform_record(data, *random_rigid_motion(generator=torch.Generator().manual_seed(seed)))
    torch.testing.assert_close(run(moved)[0], run(data)[0], atol=1e-10, rtol=0)


def test_chirality_and_batching():
    data = random_record(1, 14)
    assert_reflection_sensitive(lambda d: run(d, with_velocity=False)[1], data, min_relative_difference=1e-6)
    assert_batch_independent(lambda d: run(d)[1], [random_record(s, 5 + s) for s in range(3)])


def test_same_interface_as_the_frame_block_and_degenerate_input():
    z = torch.tensor([6, 7, 8, 6])
    pos = torch.zeros(4, 3, dtype=torch.float64)
    pos[:, 0] = torch.tensor([0.0, 1.0, 2.0, 2.0])  # collinear, two atoms coincident
    pos.requires_grad_(True)
    for block in (BLOCK, BindingNetLigand(hidden=16, num_layers=2).double()):
        h, vec = block(z, pos)
        assert h.shape == (4, 16) and vec.shape == (4, 3)
        (grad,) = torch.autograd.grad(vec.square().sum() + h.sum(), pos)
        assert torch.isfinite(h).all() and torch.isfinite(vec).all() and torch.isfinite(grad).all()
    with pytest.raises(ValueError, match="atom types"):
        BLOCK(torch.tensor([-1]), torch.zeros(1, 3, dtype=torch.float64))
