"""BindingNetProtein and ProteinEncoding: invariant, chirality-aware residue features; equivariant frames."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNetProtein
from neuralmd.testing import MIRROR, random_rigid_motion, transform_record

torch.manual_seed(2)
PROTEIN = BindingNetProtein(hidden=16).double()


def encode(d):
    res = d["residue"]
    return PROTEIN.encode(res.type, res.backbone, res.chain, res.batch if "batch" in res else None)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10**6), num_residues=st.integers(1, 30), num_chains=st.integers(1, 3))
def test_features_invariant_frames_equivariant(seed, num_residues, num_chains):
    data = random_record(seed, 5, num_residues=max(num_residues, num_chains), num_chains=num_chains)
    rotation, translation = random_rigid_motion(generator=torch.Generator().manual_seed(seed))
    a, b = encode(data), encode(transform_record(data, rotation, translation))
    torch.testing.assert_close(b.h, a.h, atol=1e-10, rtol=0)
    torch.testing.assert_close(b.frames, a.frames @ rotation.T, atol=1e-10, rtol=0)
    torch.testing.assert_close(b.ca, a.ca @ rotation.T + translation, atol=1e-10, rtol=0)
    assert torch.equal(PROTEIN(data["residue"].type, data["residue"].backbone, data["residue"].chain), a.h)


def test_features_see_chirality():
    data = random_record(4, 5, num_residues=20)
    a, b = encode(data), encode(transform_record(data, MIRROR))
    assert (a.h - b.h).abs().max() > 1e-4


def test_batch_independent_features():
    records = [random_record(s, 5, num_residues=8 + 5 * s) for s in range(3)]
    for r in records:  # overlay the proteins: only the batch vector separates them
        r["residue"].backbone = r["residue"].backbone - r["residue"].backbone[:, 1].mean(0)
    batched = encode(Batch.from_data_list(records))
    alone = torch.cat([encode(r).h for r in records])
    torch.testing.assert_close(batched.h, alone, atol=1e-10, rtol=0)


def test_encoding_moves_between_dtypes():
    enc = encode(random_record(5, 5))
    small = enc.to(dtype=torch.float32)
    assert small.h.dtype == torch.float32 and small.batch.dtype == torch.long
    again = small.to(torch.float64)
    assert again.frames.dtype == torch.float64 and again.batch.dtype == torch.long
    assert enc.to("cpu").ca.device.type == "cpu"
    assert not enc.detach().h.requires_grad


def test_bad_protein_raises():
    data = random_record(6, 5)
    res = data["residue"]
    with pytest.raises(ValueError, match="residue type"):
        PROTEIN(torch.full_like(res.type, 32), res.backbone, res.chain)
    with pytest.raises(ValueError, match="backbone must have shape"):
        PROTEIN(res.type, res.backbone[:, :2], res.chain)
    bad = res.backbone.clone()
    bad[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        PROTEIN(res.type, bad, res.chain)
    with pytest.raises(ValueError, match="non-empty"):
        PROTEIN(res.type[:0], res.backbone[:0], res.chain[:0])


def test_a_lazy_encoding_computes_the_residues_asked_for_as_the_full_encoding_does():
    data = random_record(7, 5, num_residues=30, num_chains=2)
    res = data["residue"]
    full = encode(data)
    lazy = PROTEIN.encode(res.type, res.backbone, res.chain, lazy=True)
    assert lazy.num_computed == 0 and full.num_computed == 30
    first, then = torch.tensor([3, 17, 3, 25]), torch.tensor([17, 4])
    # each residue from the edges into its own atoms only: the full encoding's values to round-off
    torch.testing.assert_close(lazy.features(first), full.h[first], atol=1e-12, rtol=0)
    assert lazy.num_computed == 3
    torch.testing.assert_close(lazy.features(then), full.h[then], atol=1e-12, rtol=0)
    assert lazy.num_computed == 4  # residue 17 was kept
    assert lazy.features(torch.tensor([], dtype=torch.long)).shape == (0, 16)

    def gradients(features):
        PROTEIN.zero_grad()
        (features * torch.linspace(-1, 1, 16, dtype=torch.float64)).sum().backward()
        return [p.grad.clone() for p in PROTEIN.parameters()]

    rows = torch.tensor([2, 9, 28])
    fresh = PROTEIN.encode(res.type, res.backbone, res.chain, lazy=True)
    for a, b in zip(gradients(fresh.features(rows)), gradients(encode(data).h[rows])):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    torch.testing.assert_close(lazy.h, full.h, atol=1e-12, rtol=0)
    assert lazy.num_computed == 30
    with pytest.raises(ValueError, match="either h or encode_rows"):
        type(full)(full.h, full.ca, full.frames, full.batch, encode_rows=lambda rows: full.h[rows])
