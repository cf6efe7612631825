"""Radial bases with a smooth cutoff: invariant edge features from interatomic distances."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

#: Distances are clamped below this (Å) before the square root, so that two coincident atoms give a
#: finite distance *gradient* (d|v|/dv is undefined at v = 0; the clamp makes it zero there).
MIN_DISTANCE = 1e-9


def safe_norm(v: Tensor, eps: float = MIN_DISTANCE) -> Tensor:
    """Euclidean norm over the last axis with a finite gradient at ``v = 0``.

    Args:
        v: (..., 3) vectors (Å).

    Returns:
        (...) norms, ``max(|v|, eps)``.
    """
    return (v * v).sum(-1).clamp_min(eps * eps).sqrt()


def cosine_cutoff(r: Tensor, cutoff: float) -> Tensor:
    """Smooth envelope ``(cos(pi r / c) + 1) / 2`` for ``r < c``, else 0.

    It and its first derivative vanish at ``r = c``, so an edge entering or leaving the cutoff
    changes every envelope-weighted sum continuously and forces have no jumps.

    Args:
        r: (...) distances (Å). cutoff: ``c`` (Å).

    Returns:
        (...) weights in [0, 1].
    """
    return torch.where(r < cutoff, 0.5 * (torch.cos(r * (math.pi / cutoff)) + 1.0), 0.0)


class CosineCutoff(nn.Module):
    """Module form of :func:`cosine_cutoff`: ``(E,)`` distances -> ``(E,)`` weights."""

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, r: Tensor) -> Tensor:
        return cosine_cutoff(r, self.cutoff)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}"


#: Lowest exponent of the Gaussian basis: exp(-80) = 1.8e-35 is still a normal float32.
MIN_EXPONENT = -80.0


class RadialBasis(nn.Module):
    """Expand distances in ``num_rbf`` smooth functions times the cosine cutoff envelope.

    ``kind="gaussian"``: ``exp(-gamma (r - mu_k)^2)`` with centres ``mu_k`` evenly spaced on
    ``[0, c]`` and ``gamma`` set by their spacing. ``kind="bessel"``: ``sqrt(2/c) sin(k pi r/c)/r``
    (written with ``sinc`` so ``r = 0`` is finite). Every basis function is multiplied by the
    envelope, so all of them vanish smoothly at the cutoff.

    Args:
        num_rbf: number of basis functions K.
        cutoff: ``c`` in Å.
        kind: ``"gaussian"`` or ``"bessel"``.

    Shapes:
        ``(...)`` distances (Å) -> ``(..., K)`` invariant features.

    Example:
        >>> rbf = RadialBasis(8, cutoff=5.0)
        >>> rbf(torch.tensor([0.0, 2.5, 5.0])).shape
        torch.Size([3, 8])
    """

    def __init__(self, num_rbf: int = 32, cutoff: float = 5.0, kind: str = "gaussian") -> None:
        super().__init__()
        if kind not in ("gaussian", "bessel"):
            raise ValueError(f"kind must be 'gaussian' or 'bessel', got {kind!r}")
        if num_rbf < 1 or cutoff <= 0:
            raise ValueError(f"need num_rbf >= 1 and cutoff > 0, got {num_rbf}, {cutoff}")
        self.num_rbf, self.cutoff, self.kind = int(num_rbf), float(cutoff), kind
        if kind == "gaussian":
            centres = torch.linspace(0.0, cutoff, num_rbf)
            spacing = cutoff / max(num_rbf - 1, 1)
            self.register_buffer("centres", centres)
            self.gamma = 0.5 / spacing**2
        else:
            self.register_buffer("centres", torch.arange(1, num_rbf + 1, dtype=torch.float32))

    def forward(self, r: Tensor, *, envelope: Optional[Tensor] = None) -> Tensor:
        """``envelope``: ``cosine_cutoff(r, cutoff)`` when the caller already has it."""
        envelope = cosine_cutoff(r, self.cutoff) if envelope is None else envelope
        r = r.unsqueeze(-1)
        centres = self.centres.to(r.dtype)
        if self.kind == "gaussian":
            # exp of very negative numbers underflows to subnormals and runs ~10x slower on x86 CPUs
            # (with 96 functions most exponents are below -87); past MIN_EXPONENT the value is
            # < 2e-35 anyway, so clamping changes the basis by less than that.
            if not (torch.is_grad_enabled() and (r.requires_grad or envelope.requires_grad)):
                # nothing to differentiate (a protein's fixed atoms, inference): the same operations
                # in place, one (E, K) tensor instead of six (each of a protein's is ~25 MB)
                basis = torch.sub(r, centres).square_().mul_(-self.gamma).clamp_min_(MIN_EXPONENT).exp_()
                return basis.mul_(envelope.unsqueeze(-1))
            basis = torch.exp((-self.gamma * (r - centres) ** 2).clamp_min(MIN_EXPONENT))
        else:
            # sin(k pi r / c) / r = (k pi / c) sinc(k r / c); sinc is finite with a finite gradient at 0.
            k = centres
            basis = math.sqrt(2.0 / self.cutoff) * (k * math.pi / self.cutoff) * torch.sinc(k * r / self.cutoff)
        return basis * envelope.unsqueeze(-1)

    def extra_repr(self) -> str:
        return f"num_rbf={self.num_rbf}, cutoff={self.cutoff}, kind={self.kind!r}"
