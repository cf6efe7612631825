"""GNN-MD baseline: autoregressive one-snapshot displacement on the BindingNet backbone."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import DynamicsModel


class GNNMD(DynamicsModel):
    """``x_{t+1} = x_t + BindingNet(x_t)`` (paper section 2.3, GNN-MD).

    BindingNet's equivariant per-atom output is read as a displacement in Å per snapshot instead of
    a force. The velocity is not an input (as in the paper); training unrolls the same recursion
    over the loss window (``window=1`` is one-step teacher forcing).

    Args:
        force_field: a BindingNet (``encode_protein``, ``forward(data, x, protein=...)``).
    """

    integer_times = True

    def __init__(self, force_field: nn.Module) -> None:
        super().__init__()
        self.force_field = force_field

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) positions at integer relative times (T,), stepping one snapshot at a time."""
        steps = times.round().long()
        protein = self.protein_encoding(data)
        out, x = [x0], x0
        for _ in range(int(steps[-1])):
            x = x + self.force_field(data, x, protein=protein)
            out.append(x)
        return torch.stack(out)[steps]
