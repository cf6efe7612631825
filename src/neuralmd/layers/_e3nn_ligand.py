"""An e3nn alternative to BindingNetLigand: spherical-harmonic tensor-product messages.

Same interface as :class:`~neuralmd.layers.BindingNetLigand`, so a user can swap vector frames for
spherical frames (the comparison of the paper's supplement A.2) and measure both. Chirality: like
the frame model this block is SO(3)- but not O(3)-equivariant on purpose. It carries pseudo-scalars
(0o) and pseudo-vectors (1e), which arise from products such as 1o x 1o -> 1e, and lets them act as
scalars and vectors in its gates and output, so mirror images get different outputs.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from e3nn import o3
from torch import Tensor, nn

from ._blocks import MLP, aggregate
from ._ligand_encoder import LigandEncoder
from ._radial import RadialBasis, cosine_cutoff, safe_norm


def _node_irreps(hidden: int, channels: int) -> o3.Irreps:
    return o3.Irreps(f"{hidden}x0e + {channels}x0o + {channels}x1o + {channels}x1e + {channels}x2e")


class _Convolution(nn.Module):
    """``x_i += Linear(sum_j TP(x_j, Y(r_ij); w(|r_ij|)) / norm)``: one channel-wise ("uvu") tensor
    product per input irrep and harmonic, weights from a radial MLP times the cutoff envelope."""

    def __init__(self, irreps: o3.Irreps, irreps_sh: o3.Irreps, num_rbf: int, norm: float) -> None:
        super().__init__()
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in irreps:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        mid, perm, _ = o3.Irreps(mid).sort()
        instructions = [(i, j, perm[k], mode, train) for i, j, k, mode, train in instructions]
        self.tp = o3.TensorProduct(
            irreps, irreps_sh, mid, instructions, shared_weights=False, internal_weights=False
        )
        self.radial = MLP(num_rbf, 64, self.tp.weight_numel)
        self.linear = o3.Linear(mid.simplify(), irreps)
        self.norm = float(norm)

    def forward(self, x: Tensor, sh: Tensor, rbf: Tensor, envelope: Tensor, src: Tensor, dst: Tensor) -> Tensor:
        weights = self.radial(rbf) * envelope.unsqueeze(-1)
        return x + self.linear(aggregate(self.tp(x[src], sh, weights), dst, x.shape[0], self.norm))


class _ChiralGate(nn.Module):
    """Nonlinearity driven by the SO(3) invariants ``(0e, 0o)`` together: new scalars from an MLP,
    and one sigmoid gate per l > 0 channel that scales it (vectors only meet invariant factors)."""

    def __init__(self, irreps: o3.Irreps) -> None:
        super().__init__()
        self.irreps = irreps
        n_scalar = irreps[0].mul + irreps[1].mul
        self.n_gated = sum(mul for mul, _ in irreps[2:])
        self.mlp = MLP(n_scalar, n_scalar, n_scalar + self.n_gated)

    def forward(self, x: Tensor) -> Tensor:
        n_scalar = self.irreps[0].mul + self.irreps[1].mul
        out = self.mlp(x[:, :n_scalar])
        gates = torch.sigmoid(out[:, n_scalar:])
        pieces, g = [x[:, :n_scalar] + out[:, :n_scalar]], 0
        for (mul, ir), sl in zip(self.irreps[2:], self.irreps.slices()[2:]):
            block = x[:, sl].reshape(-1, mul, ir.dim) * gates[:, g : g + mul].unsqueeze(-1)
            pieces.append(block.reshape(-1, mul * ir.dim))
            g += mul
        return torch.cat(pieces, dim=-1)


class E3nnLigand(LigandEncoder):
    """Ligand block with spherical-harmonic tensor-product messages (interface of BindingNetLigand).

    Node features carry ``hidden`` scalars and ``channels`` each of pseudo-scalars, vectors,
    pseudo-vectors and l = 2 tensors; each of ``num_layers`` layers is a :class:`_Convolution`
    followed by a :class:`_ChiralGate`. An input ``vec`` (e.g. a velocity) enters as vector channels
    scaled by learned constants and is added to the output.

    Args:
        hidden, num_layers, cutoff (Å), and the keywords num_rbf, max_z, avg_neighbors: as
            :class:`LigandEncoder`.
        channels: multiplicity of every non-scalar irrep (default ``hidden // 4``).
        lmax: highest spherical-harmonic degree of the edge attributes (1 or 2).

    Example:
        >>> net = E3nnLigand(hidden=8, num_layers=2)
        >>> h, vec = net(torch.tensor([6, 6, 8]), torch.randn(3, 3))
        >>> h.shape, vec.shape
        (torch.Size([3, 8]), torch.Size([3, 3]))
    """

    def __init__(
        self, hidden: int = 128, num_layers: int = 5, cutoff: float = 5.0, *,
        channels: Optional[int] = None, lmax: int = 2, **options: Any,
    ) -> None:
        super().__init__(hidden, num_layers, cutoff, **options)
        channels = max(hidden // 4, 1) if channels is None else channels
        self.channels = channels
        self.irreps = _node_irreps(hidden, channels)
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        self.vec_in = nn.Parameter(torch.randn(channels))
        self.rbf = RadialBasis(self.num_rbf, cutoff)
        self.convolutions = nn.ModuleList(
            _Convolution(self.irreps, self.irreps_sh, self.num_rbf, self.avg_neighbors) for _ in range(num_layers)
        )
        self.gates = nn.ModuleList(_ChiralGate(self.irreps) for _ in range(num_layers))
        self.h_out = nn.Linear(hidden + channels, hidden)
        self.vec_out = nn.Linear(2 * channels, 1, bias=False)  # 1o and 1e channels: both SO(3) vectors

    def encode(
        self, z: Tensor, pos: Tensor, vec: Tensor, edge_index: Tensor, batch: Optional[Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Tensor-product convolutions on the radius graph -> h (N, hidden) invariant under rotations,
        vec (N, 3) equivariant (both chirality-aware)."""
        num, c = z.shape[0], self.channels
        src, dst = edge_index
        rel = pos[dst] - pos[src]
        r = safe_norm(rel)
        # Unit vectors from a clamped norm: coincident atoms give Y(0) = 0 for l > 0, never NaN.
        sh = o3.spherical_harmonics(self.irreps_sh, rel / r.unsqueeze(-1), normalize=False, normalization="component")
        envelope = cosine_cutoff(r, self.cutoff)
        rbf = self.rbf(r, envelope=envelope)
        lifted = (vec.unsqueeze(1) * self.vec_in.to(vec.dtype).unsqueeze(-1)).reshape(num, 3 * c)
        zeros = pos.new_zeros
        x = torch.cat((self.embedding(z), zeros(num, c), lifted, zeros(num, 3 * c + 5 * c)), dim=-1)
        for conv, gate in zip(self.convolutions, self.gates):
            x = gate(conv(x, sh, rbf, envelope, src, dst))
        s = self.hidden + c
        vectors = torch.cat((x[:, s : s + 3 * c].reshape(num, c, 3), x[:, s + 3 * c : s + 6 * c].reshape(num, c, 3)), 1)
        h = self.h_out(x[:, :s])
        return h, vec + self.vec_out(vectors.transpose(1, 2)).squeeze(-1)
