"""The symmetry contract every ligand encoder keeps, checked on both: BindingNetLigand (frames) and
E3nnLigand (spherical harmonics). ``encoder(z, pos, batch, vec) -> (h invariant, vec equivariant)``."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNetLigand, E3nnLigand, LigandEncoder, radius_graph
from neuralmd.testing import (
    assert_batch_independent,
    assert_equivariant,
    assert_reflection_sensitive,
    random_rigid_motion,
    transform_record,
)


def _build(cls, seed):
    torch.manual_seed(seed)
    return cls(hidden=16, num_layers=3).double()


ENCODERS = {"frames": _build(BindingNetLigand, 1), "e3nn": _build(E3nnLigand, 4)}
NAMES = list(ENCODERS)


def run(name, d, with_velocity=True):
    """The encoder on snapshot 0, with the velocity x1 - x0 (a true vector) as its input vector."""
    lig = d["ligand"]
    batch = lig.batch if "batch" in lig else None
    vec = lig.pos[:, 1] - lig.pos[:, 0] if with_velocity else None
    return ENCODERS[name](lig.z, lig.pos[:, 0], batch, vec)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10**6), num_atoms=st.integers(5, 20))
def test_vec_is_equivariant_and_h_invariant(name, seed, num_atoms):
    data = random_record(seed, num_atoms)
    assert_equivariant(lambda d: run(name, d)[1], data, trials=2)
    assert_equivariant(lambda d: run(name, d, with_velocity=False)[1], data, trials=1)
    moved = transform_record(data, *random_rigid_motion(generator=torch.Generator().manual_seed(seed)))
    torch.testing.assert_close(run(name, moved)[0], run(name, data)[0], atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_velocity_is_used_and_chirality_seen(name):
    data = random_record(2, 12)
    assert (run(name, data)[1] - run(name, data, with_velocity=False)[1]).abs().max() > 1e-3
    assert_reflection_sensitive(lambda d: run(name, d)[1], data, min_relative_difference=1e-4)
    assert_reflection_sensitive(lambda d: run(name, d, with_velocity=False)[1], random_record(1, 14),
                                min_relative_difference=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_batch_independent(name):
    records = [random_record(s, 4 + 2 * s) for s in range(3)]
    assert_batch_independent(lambda d: run(name, d)[1], records)
    assert_batch_independent(lambda d: run(name, d)[0], records, atom_dim=0)


@pytest.mark.parametrize("name", NAMES)
def test_degenerate_input_gives_finite_outputs_and_gradients(name):
    z = torch.tensor([6, 7, 8, 6])
    pos = torch.zeros(4, 3, dtype=torch.float64)
    pos[:, 0] = torch.tensor([0.0, 1.0, 2.0, 2.0])  # collinear, two atoms coincident
    pos.requires_grad_(True)
    h, vec = ENCODERS[name](z, pos)
    assert h.shape == (4, 16) and vec.shape == (4, 3)
    (grad,) = torch.autograd.grad(vec.square().sum() + h.sum(), pos)
    assert torch.isfinite(h).all() and torch.isfinite(vec).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_bad_input(name):
    encoder = ENCODERS[name]
    with pytest.raises(ValueError, match="atom types"):
        encoder(torch.tensor([6, 200]), torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="atom types"):
        encoder(torch.tensor([-1]), torch.zeros(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="vec"):
        encoder(torch.tensor([6, 6]), torch.zeros(2, 3, dtype=torch.float64), vec=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="no atoms"):
        encoder(torch.zeros(0, dtype=torch.long), torch.zeros(0, 3))


@pytest.mark.parametrize("cls", [BindingNetLigand, E3nnLigand])
def test_shared_options_and_forward_is_encode_on_the_radius_graph(cls):
    """The options of the interface reach every encoder by keyword; forward = checks + radius graph
    + encode, so a user's encoder gets both by implementing ``encode`` alone."""
    torch.manual_seed(0)
    encoder = cls(8, 1, 3.0, num_rbf=6, max_z=10, avg_neighbors=4.0).double()
    assert isinstance(encoder, LigandEncoder)
    assert (encoder.hidden, encoder.num_layers, encoder.cutoff) == (8, 1, 3.0)
    assert (encoder.num_rbf, encoder.max_z, encoder.avg_neighbors) == (6, 10, 4.0)
    assert encoder.embedding.num_embeddings == 10
    with pytest.raises(ValueError, match="atom types"):
        encoder(torch.tensor([6, 10]), torch.zeros(2, 3, dtype=torch.float64))
    z, pos, vec = torch.tensor([6, 7, 8, 9]), torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    direct = encoder.encode(z, pos, vec, radius_graph(pos, 3.0), None)
    for a, b in zip(encoder(z, pos, None, vec), direct):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    with pytest.raises(NotImplementedError, match="encode"):
        LigandEncoder(hidden=4)(z, pos.float())
