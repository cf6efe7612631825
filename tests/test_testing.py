"""The symmetry assertions of neuralmd.testing catch what they promise to catch."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.testing import (
    assert_batch_independent,
    assert_equivariant,
    assert_reflection_sensitive,
    random_rigid_motion,
    transform_record,
)


def centred(data):
    pos = data["ligand"].pos[:, 0]
    return pos - pos.mean(0)


def chiral(data):
    """Equivariant under rotations but sees handedness: a cross product of two true vectors."""
    v = centred(data)
    return torch.linalg.cross(v, v.roll(1, dims=0), dim=-1) + v


def test_random_rigid_motion_is_a_proper_rotation_and_reproducible():
    rotation, translation = random_rigid_motion()
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(3, dtype=torch.float64))
    assert torch.det(rotation).item() == pytest.approx(1.0)
    assert translation.shape == (3,)
    a = random_rigid_motion(generator=torch.Generator().manual_seed(4))
    b = random_rigid_motion(generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert random_rigid_motion(dtype=torch.float32)[0].dtype == torch.float32


def test_transform_record_maps_positions_and_backbone_and_copies():
    data = random_record(0, 6)
    rotation, translation = random_rigid_motion()
    moved = transform_record(data, rotation, translation)
    torch.testing.assert_close(moved["ligand"].pos, data["ligand"].pos @ rotation.T + translation)
    torch.testing.assert_close(moved["residue"].backbone, data["residue"].backbone @ rotation.T + translation)
    assert torch.equal(moved["ligand"].z, data["ligand"].z)
    moved["ligand"].z[0] = 99
    assert data["ligand"].z[0] != 99  # a deep copy
    batch = Batch.from_data_list([random_record(1, 5), random_record(2, 7)])
    moved = transform_record(batch, rotation)
    torch.testing.assert_close(moved["ligand"].pos, batch["ligand"].pos @ rotation.T)
    assert torch.equal(moved["ligand"].batch, batch["ligand"].batch)


def test_assert_equivariant_accepts_vectors_and_positions():
    data = random_record(3, 8)
    assert_equivariant(centred, data)
    assert_equivariant(chiral, data)
    assert_equivariant(lambda d: d["ligand"].pos[:, 0], data, output="position")


def test_assert_equivariant_rejects_broken_models():
    data = random_record(3, 8)
    with pytest.raises(AssertionError, match="worst relative error"):
        assert_equivariant(lambda d: torch.relu(centred(d) + 0.1), data)  # biased nonlinearity on vectors
    with pytest.raises(AssertionError, match="not vector-equivariant"):
        assert_equivariant(lambda d: d["ligand"].pos[:, 0], data)  # translates: not a vector
    with pytest.raises(AssertionError, match="position-equivariant"):
        assert_equivariant(centred, data, output="position")  # ignores translations: not a position
    with pytest.raises(AssertionError, match="worst relative error nan"):
        assert_equivariant(lambda d: centred(d) * float("nan"), data)
    with pytest.raises(ValueError, match="output must be"):
        assert_equivariant(centred, data, output="scalar")


def test_assert_reflection_sensitive_tells_chiral_from_achiral():
    data = random_record(5, 8)
    assert_reflection_sensitive(chiral, data)
    assert_reflection_sensitive(chiral, data, rotate=False)
    with pytest.raises(AssertionError, match="reflection-equivariant"):
        assert_reflection_sensitive(centred, data)  # distances and differences only: mirror-blind


def test_assert_batch_independent_catches_cross_complex_normalisation():
    records = [random_record(s, 4 + s) for s in range(3)]
    assert_batch_independent(centred_per_complex, records)
    with pytest.raises(AssertionError, match="record .* differs by"):
        assert_batch_independent(centred, records)  # centres on the whole batch's centroid
    with pytest.raises(AssertionError, match="ligand atoms"):
        assert_batch_independent(lambda d: centred(d)[:-1], records)


def centred_per_complex(data):
    from torch_geometric.utils import scatter

    pos = data["ligand"].pos[:, 0]
    batch = data["ligand"].batch if "batch" in data["ligand"] else torch.zeros(len(pos), dtype=torch.long)
    return pos - scatter(pos, batch, dim=0, reduce="mean")[batch]
