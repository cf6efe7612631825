"""BindingNet end to end: symmetry, batching, caching, degenerate geometry, energy head."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNet
from neuralmd.testing import (
    assert_batch_independent,
    assert_equivariant,
    assert_reflection_sensitive,
    transform_record,
)

torch.manual_seed(0)
NET = BindingNet(hidden=16, num_layers=2).double()
# Larger initial weights make the untrained outputs far from zero and strongly geometry dependent,
# so the symmetry checks compare O(1) numbers rather than tiny ones.
with torch.no_grad():
    for p in NET.parameters():
        p.mul_(2.0)


def forces(data):
    return NET(data, data["ligand"].pos[:, 0])


seeds = st.integers(0, 2**31 - 1)
atoms = st.integers(5, 20)


@settings(max_examples=8, deadline=None)
@given(seed=seeds, num_atoms=atoms)
def test_forces_rotate_with_the_complex(seed, num_atoms):
    data = random_record(seed, num_atoms)
    assert forces(data).abs().max() > 1e-3
    assert_equivariant(forces, data, trials=2, rtol=1e-8)


@settings(max_examples=5, deadline=None)
@given(seed=seeds, num_atoms=atoms)
def test_forces_see_chirality(seed, num_atoms):
    assert_reflection_sensitive(forces, random_record(seed, num_atoms), min_relative_difference=1e-4)


@settings(max_examples=5, deadline=None)
@given(seed=seeds, num_atoms=atoms)
def test_ligand_permutation_permutes_forces(seed, num_atoms):
    data = random_record(seed, num_atoms)
    perm = torch.randperm(num_atoms, generator=torch.Generator().manual_seed(seed))
    permuted = data.clone()
    for key in ("z", "mass", "pos"):
        permuted["ligand"][key] = data["ligand"][key][perm]
    torch.testing.assert_close(forces(permuted), forces(data)[perm], atol=1e-12, rtol=0)


def test_batch_gives_each_complex_what_it_gives_alone():
    records = [random_record(s, 5 + 3 * s, num_residues=12 + 4 * s) for s in range(4)]
    # Overlay all complexes in space: only the batch vector keeps them apart.
    for r in records:
        shift = r["residue"].backbone[:, 1].mean(0)
        r["residue"].backbone = r["residue"].backbone - shift
        r["ligand"].pos = r["ligand"].pos - shift
    assert_batch_independent(forces, records, atol=1e-10)
    batch = Batch.from_data_list(records)
    energies = NET.energy(batch, batch["ligand"].pos[:, 0])
    alone = torch.cat([NET.energy(r, r["ligand"].pos[:, 0]) for r in records])
    torch.testing.assert_close(energies, alone, atol=1e-10, rtol=0)


def test_batch_without_residue_batch_vector():
    records = [random_record(s, 6) for s in range(3)]
    for r in records:
        del r["residue"].num_nodes  # PyG then cannot make residue.batch; the slices must be used
    assert_batch_independent(forces, records, atol=1e-10)


def test_cached_encoding_equals_fresh():
    data = random_record(3, 12)
    encoding = NET.encode_protein(data)
    pos = data["ligand"].pos[:, 1]
    torch.testing.assert_close(NET(data, pos, protein=encoding), NET(data, pos), atol=0, rtol=0)
    torch.testing.assert_close(
        NET.energy(data, pos, protein=encoding.to(dtype=torch.float64)), NET.energy(data, pos), atol=0, rtol=0
    )


def _finite_with_gradients(data, pos):
    pos = pos.clone().requires_grad_(True)
    out = NET(data, pos)
    (grad,) = torch.autograd.grad(out.square().sum(), pos)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    NET.zero_grad()
    NET.energy(data, pos).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in NET.parameters() if p.grad is not None)


def test_degenerate_geometry_is_finite():
    data = random_record(5, 6)
    ca = data["residue"].backbone[:, 1]
    line = ca[0] + torch.linspace(0, 1, 6, dtype=torch.float64)[:, None] * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    _finite_with_gradients(data, line)  # atoms on a line: every ligand frame is degenerate
    on_ca = data["ligand"].pos[:, 0].clone()
    on_ca[0] = ca[3]  # a ligand atom exactly on a C-alpha
    _finite_with_gradients(data, on_ca)
    coincident = data["ligand"].pos[:, 0].clone()
    coincident[1] = coincident[0]  # two coincident atoms
    _finite_with_gradients(data, coincident)


def test_ligand_far_from_protein_gets_intra_ligand_forces():
    data = random_record(7, 8)
    far = data["ligand"].pos[:, 0] + torch.tensor([500.0, 0.0, 0.0], dtype=torch.float64)
    out = NET(data, far)
    assert torch.isfinite(out).all()
    _, vec = NET.ligand(data["ligand"].z, far)
    torch.testing.assert_close(out, vec, atol=1e-12, rtol=0)
    assert out.abs().max() > 1e-3  # the intra-ligand part is not silently zero


def test_energy_is_invariant_and_its_gradient_equivariant():
    data = random_record(11, 10)

    def energy_forces(d):
        pos = d["ligand"].pos[:, 0].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(NET.energy(d, pos).sum(), pos)
        return -grad

    assert_equivariant(energy_forces, data, trials=2)
    moved = transform_record(data, *_rigid())
    torch.testing.assert_close(
        NET.energy(moved, moved["ligand"].pos[:, 0]), NET.energy(data, data["ligand"].pos[:, 0]), atol=1e-10, rtol=0
    )


def _rigid():
    from neuralmd.testing import random_rigid_motion

    return random_rigid_motion(generator=torch.Generator().manual_seed(2))


def test_float32_runs_and_default_size_is_equivariant_in_float64():
    data = random_record(13, 12)
    net32 = BindingNet(hidden=16, num_layers=1)
    data32 = data.clone()
    data32["ligand"].pos = data32["ligand"].pos.float()
    data32["residue"].backbone = data32["residue"].backbone.float()
    assert net32(data32, data32["ligand"].pos[:, 0]).dtype == torch.float32
    big = BindingNet().double()
    assert_equivariant(lambda d: big(d, d["ligand"].pos[:, 0]), data, trials=1)


def test_bad_input_raises_value_error_naming_the_complex():
    import pytest

    data = random_record(17, 6)
    data["residue"].type[0] = 40
    with pytest.raises(ValueError, match="toy17.*residue type"):
        NET(data, data["ligand"].pos[:, 0])
    data = random_record(17, 6)
    pos = data["ligand"].pos[:, 0].clone()
    pos[2, 1] = float("nan")
    with pytest.raises(ValueError, match="toy17.*NaN"):
        NET(data, pos)


def test_forces_are_continuous_across_the_cutoffs():
    """Envelope-weighted sums: an atom crossing a cutoff changes the forces by O(delta^2), where a
    mean over a hard cutoff would jump."""
    data = random_record(19, 8)
    ca = data["residue"].backbone[:, 1]
    pos = data["ligand"].pos[:, 0].clone()
    direction = torch.nn.functional.normalize(pos[0] - ca[0], dim=0)
    for cutoff, anchor in ((NET.complex.cutoff, ca[0]), (NET.ligand.cutoff, pos[1])):
        before, after = pos.clone(), pos.clone()
        before[0] = anchor + (cutoff - 1e-7) * direction
        after[0] = anchor + (cutoff + 1e-7) * direction
        jump = (NET(data, after) - NET(data, before)).abs().max()
        assert jump < 1e-5, f"forces jump by {jump:.2e} across the {cutoff} Å cutoff"


def test_energy_forces_train_by_double_backward():
    data = random_record(23, 7)
    pos = data["ligand"].pos[:, 0].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(NET.energy(data, pos).sum(), pos, create_graph=True)
    NET.zero_grad()
    (grad - 0.1).square().sum().backward()  # a force-matching loss
    grads = [p.grad for p in NET.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert max(g.abs().max() for g in grads) > 0


def test_mismatched_cached_encoding_is_refused():
    import pytest

    data, other = random_record(29, 6), random_record(30, 6, num_residues=10)
    pos = data["ligand"].pos[:, 0]
    with pytest.raises(ValueError, match="10 residues"):
        NET(data, pos, protein=NET.encode_protein(other))
    with pytest.raises(ValueError, match="use protein.to"):
        NET(data, pos, protein=NET.encode_protein(data).to(torch.float32))


def test_data_of_another_dtype_than_the_model_gets_one_clear_error():
    from neuralmd.data import synthetic_trajectories
    data = synthetic_trajectories(1, seed=0, n_snapshots=2)[0]
    net = BindingNet(hidden=8, num_layers=1)
    double = data.clone()
    double["residue"].backbone = double["residue"].backbone.double()
    with pytest.raises(ValueError, match=r"residue.backbone is torch.float64 .* model is torch.float32"):
        net.encode_protein(double)
    with pytest.raises(ValueError, match=r"ligand_pos is torch.float64 .* model is torch.float32"):
        net(data, data["ligand"].pos[:, 0].double())


def test_a_reused_encoding_keeps_its_pocket_pairs_and_gives_the_same_forces():
    # One encoding for a wandering ligand (a rollout): the Verlet lists (pocket pairs, ligand graph)
    # search once per skin's worth of motion, and every force equals a search at every call, bit
    # for bit, with gradients.
    data = Batch.from_data_list([random_record(s, 8, spread=3.0) for s in range(2)])
    searching = BindingNet(hidden=8, num_layers=2, pair_skin=0.0).double()
    listing = BindingNet(hidden=8, num_layers=2).double()
    listing.load_state_dict(searching.state_dict())
    encoding = listing.encode_protein(data)
    g = torch.Generator().manual_seed(0)
    pos = data["ligand"].pos[:, 0]
    for _ in range(12):
        pos = (pos + 0.08 * torch.randn(pos.shape, generator=g, dtype=torch.float64)).requires_grad_(True)
        reused, fresh = listing(data, pos, protein=encoding), searching(data, pos)
        assert torch.equal(reused, fresh)
        grad_reused, = torch.autograd.grad(reused.square().sum(), pos)
        grad_fresh, = torch.autograd.grad(fresh.square().sum(), pos)
        assert torch.equal(grad_reused, grad_fresh)
        pos = pos.detach()
    pairs, graph = encoding.pair_lists[(5.0, 1.0)], encoding.pair_lists[("ligand", 5.0, 1.0)]
    assert 1 <= pairs.builds < 4 and 1 <= graph.builds < 8
    assert not encoding.to(torch.float64).pair_lists  # a copy starts without them
    with pytest.raises(ValueError, match="pair_skin"):
        BindingNet(hidden=8, num_layers=1, pair_skin=-1.0)


def test_the_lazy_encoding_gives_the_full_encodings_forces_and_encodes_only_the_pocket():
    data = random_record(5, 10, num_residues=40, spread=2.0)
    res = data["residue"]
    lazy = NET.encode_protein(data)
    full = NET.protein.encode(res.type, res.backbone, res.chain, lazy=False)
    pos = data["ligand"].pos[:, 1]
    torch.testing.assert_close(NET(data, pos, protein=lazy), NET(data, pos, protein=full), atol=1e-12, rtol=0)
    pocket = torch.unique(NET.complex._pocket_pairs(full, pos, torch.zeros(10, dtype=torch.long))[1])
    assert 0 < lazy.num_computed == pocket.numel() < 40


def test_a_lazy_encoding_made_in_inference_mode_serves_calls_outside_it():
    data = random_record(6, 8, num_residues=30)
    pos = data["ligand"].pos[:, 0]
    with torch.inference_mode():
        encoding = NET.encode_protein(data)
    expected = NET(data, pos)
    with torch.no_grad():
        torch.testing.assert_close(NET(data, pos, protein=encoding), expected, atol=1e-12, rtol=0)
    computed = encoding.num_computed
    moved = (pos + 1.0).requires_grad_(True)  # a new pocket residue, computed outside inference mode
    forces = NET(data, moved, protein=encoding)
    assert encoding.num_computed > computed
    torch.testing.assert_close(forces, NET(data, moved), atol=1e-12, rtol=0)
