"""E3nnLigand on its own; the symmetry contract it shares with BindingNetLigand (equivariance,
chirality, batching, degenerate and bad input) is checked for both in test_layers_ligand_encoders.py."""
from __future__ import annotations

import torch
from e3nn import o3

from _layers_records import one_thread  # noqa: F401 (autouse fixture)
from neuralmd.layers import E3nnLigand


def test_irreps_layers_and_sizes_follow_the_arguments():
    block = E3nnLigand(hidden=8, num_layers=2, lmax=2)
    assert block.irreps_sh == o3.Irreps.spherical_harmonics(2)
    assert len(block.convolutions) == len(block.gates) == 2
    h, vec = block(torch.tensor([6, 7, 8, 6]), torch.randn(4, 3))
    assert h.shape == (4, 8) and vec.shape == (4, 3)
