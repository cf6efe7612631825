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
        cache_protein: encode the rigid protein once per rollout (True) or at every step.
    """

    integer_times = True

    def __init__(self, force_field: nn.Module, cache_protein: bool = True) -> None:
        super().__init__()
        self.force_field = force_field
        self.cache_protein = cache_protein

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) positions at integer relative times (T,), stepping one snapshot at a time."""
        steps = times.round().long()
        protein = self.force_field.encode_protein(data) if self.cache_protein else None
        out, x = [x0], x0
        for k in range(1, int(steps[-1]) + 1):
            enc = protein if protein is not None else self.force_field.encode_protein(data)
            x = x + self.force_field(data, x, protein=enc)
            out.append(x)
        return torch.stack(out)[steps]
