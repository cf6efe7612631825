"""BindingNetComplex on its own: pocket edges, Eq. (9) structure, equivariance, isolated atoms."""
from __future__ import annotations

import torch

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNetComplex, BindingNetProtein
from neuralmd.testing import assert_equivariant, assert_reflection_sensitive

torch.manual_seed(3)
PROTEIN = BindingNetProtein(hidden=16).double()
COMPLEX = BindingNetComplex(hidden=16, num_layers=2).double()


def run(d):
    """The complex module fed with arbitrary invariant h and an equivariant vec (a displacement)."""
    res, lig = d["residue"], d["ligand"]
    enc = PROTEIN.encode(res.type, res.backbone, res.chain)
    pos = lig.pos[:, 0]
    h = torch.nn.functional.one_hot(lig.z % 16, 16).double()
    return COMPLEX(h, lig.pos[:, 2] - pos, pos, None, enc)


def test_complex_output_is_equivariant_and_chiral():
    data = random_record(8, 15)
    assert_equivariant(run, data)
    assert_reflection_sensitive(run, data, min_relative_difference=1e-4)


def test_atoms_out_of_reach_keep_their_ligand_vector():
    data = random_record(9, 6)
    pos = data["ligand"].pos
    pos[:3] += torch.tensor([300.0, 0, 0], dtype=torch.float64)  # three atoms far from every residue
    out = run(data)
    torch.testing.assert_close(out[:3], pos[:3, 2] - pos[:3, 0])
    assert (out[3:] - (pos[3:, 2] - pos[3:, 0])).abs().max() > 1e-4  # the others feel the protein


def test_interact_returns_updated_invariants():
    data = random_record(10, 6)
    res, lig = data["residue"], data["ligand"]
    enc = PROTEIN.encode(res.type, res.backbone, res.chain)
    h0 = torch.zeros(6, 16, dtype=torch.float64)
    h, vec = COMPLEX.interact(h0, torch.zeros(6, 3, dtype=torch.float64), lig.pos[:, 0], None, enc)
    assert h.shape == (6, 16) and vec.shape == (6, 3) and h.abs().max() > 0
