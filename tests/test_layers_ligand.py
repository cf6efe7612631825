"""BindingNetLigand on its own; the symmetry contract it shares with E3nnLigand is checked for both
in test_layers_ligand_encoders.py."""
from __future__ import annotations

import torch

from _layers_records import one_thread  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNetLigand

torch.manual_seed(1)
LIGAND = BindingNetLigand(hidden=16, num_layers=3).double()


def test_single_atom_and_isolated_atoms_keep_their_input_vector():
    z = torch.tensor([6, 8])
    pos = torch.tensor([[0.0, 0, 0], [50.0, 0, 0]], dtype=torch.float64)  # beyond the cutoff
    vec = torch.tensor([[1.0, 2, 3], [-1.0, 0, 1]], dtype=torch.float64)
    h, out = LIGAND(z, pos, vec=vec)
    torch.testing.assert_close(out, vec)
    assert torch.isfinite(h).all()
    h1, out1 = LIGAND(z[:1], pos[:1])
    assert out1.abs().max() == 0 and torch.isfinite(h1).all()


def test_layers_and_sizes_follow_the_arguments():
    net = BindingNetLigand(hidden=8, num_layers=2, cutoff=4.0, vector_channels=4)
    assert len(net.layers) == 2 and net.cutoff == 4.0 and net.neighbors.channels == 4
    h, vec = net(torch.tensor([6, 7, 8]), torch.randn(3, 3))
    assert h.shape == (3, 8) and vec.shape == (3, 3)
