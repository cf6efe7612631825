"""Radial bases with a smooth cutoff: invariant edge features from interatomic distances."""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Union

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


#: Fewest entries (distances x functions) that a band must leave out of a basis for
#: :meth:`RadialBasis.for_linear` to return it: below, the band's ~10 extra small operations cost
#: more than they save (one CPU thread, 128-384 outputs: break-even at about 100 distances x 48
#: functions, a loss at 100 x 32 and 15 x 96, a gain at 386 x 24).
MIN_BANDED_SAVING = 4096


class BandedBasis(NamedTuple):
    """A Gaussian basis (E, K) kept where it is not negligible: row e holds ``values[e]`` at the
    columns ``index[e]``, a band of consecutive functions around the nearest centre, and nothing
    else (:meth:`RadialBasis.for_linear`). Shapes: ``index`` (E, W) long, ``values`` (E, W)."""

    index: Tensor
    values: Tensor

    def rows(self, part: slice) -> "BandedBasis":
        """The edges ``part`` of the basis."""
        return BandedBasis(self.index[part], self.values[part])


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
            self.spacing = spacing
            self.gamma = 0.5 / spacing**2
        else:
            self.register_buffer("centres", torch.arange(1, num_rbf + 1, dtype=torch.float32))

    def forward(self, r: Tensor, *, envelope: Optional[Tensor] = None) -> Tensor:
        """``envelope``: ``cosine_cutoff(r, cutoff)`` when the caller already has it."""
        envelope = cosine_cutoff(r, self.cutoff) if envelope is None else envelope
        r = r.unsqueeze(-1)
        centres = self.centres.to(r.dtype)
        if self.kind == "gaussian":
            return self._gaussians(r, centres, envelope)
        # sin(k pi r / c) / r = (k pi / c) sinc(k r / c); sinc is finite with a finite gradient at 0.
        k = centres
        basis = math.sqrt(2.0 / self.cutoff) * (k * math.pi / self.cutoff) * torch.sinc(k * r / self.cutoff)
        return basis * envelope.unsqueeze(-1)

    def _gaussians(self, r: Tensor, centres: Tensor, envelope: Tensor) -> Tensor:
        """``exp(-gamma (r - centres)^2) * envelope`` for ``r`` (E, 1), ``centres`` broadcast to it."""
        # exp of very negative numbers underflows to subnormals and runs ~10x slower on x86 CPUs
        # (with 96 functions most exponents are below -87); past MIN_EXPONENT the value is
        # < 2e-35 anyway, so clamping changes the basis by less than that.
        if not (torch.is_grad_enabled() and (r.requires_grad or envelope.requires_grad)):
            # nothing to differentiate (a protein's fixed atoms, inference): the same operations
            # in place, one (E, K) tensor instead of six (each of a protein's is ~25 MB)
            basis = torch.sub(r, centres).square_().mul_(-self.gamma).clamp_min_(MIN_EXPONENT).exp_()
            return basis.mul_(envelope.unsqueeze(-1))
        return torch.exp((-self.gamma * (r - centres) ** 2).clamp_min(MIN_EXPONENT)) * envelope.unsqueeze(-1)

    def band_half_width(self, dtype: torch.dtype) -> int:
        """Functions kept on each side of the nearest centre by :meth:`for_linear` in ``dtype``.

        In units of the spacing a function is ``exp(-d^2 / 2)`` at distance ``d`` from its centre, and
        the nearest centre is at most 1/2 away, so every function left out is at ``d >= h + 1/2``:
        ``h`` is the least for which that value is below a thousandth of ``dtype``'s rounding error
        (7 in float32, 9 in float64), small enough that dropping the functions beyond changes no
        product with the basis by more than round-off."""
        negligible = 1e-3 * torch.finfo(dtype).eps
        return math.ceil(math.sqrt(-2.0 * math.log(negligible)) - 0.5)

    def for_linear(self, r: Tensor, *, envelope: Optional[Tensor] = None) -> Union[Tensor, "BandedBasis"]:
        """The basis of distances ``r`` (E,) in the cheapest form to multiply by a weight matrix.

        A Gaussian basis at least twice as wide as its band (:meth:`band_half_width`) comes as a
        :class:`BandedBasis` of the ``2 h + 1`` functions around each distance's nearest centre: with
        96 functions in float32 that is 15, and a product with it (a weighted sum of 15 weight rows
        per edge, ``_blocks.radial_linear``) does 6.4x fewer multiply-adds than with the dense
        (E, 96) basis (basis and products 4x faster on one ligand's 386 edges) and gives the same
        result to round-off. That is for rollouts: with gradients enabled, a Bessel basis, fewer
        functions, fewer than ``MIN_BANDED_SAVING`` entries left out (outside a compiled graph), ``r``
        not one-dimensional or not on the CPU, it is the dense :meth:`forward`.

        Example:
            >>> rbf = RadialBasis(96, cutoff=5.0)
            >>> r = torch.linspace(0.0, 5.0, 100)
            >>> with torch.no_grad():
            ...     band = rbf.for_linear(r)
            >>> band.index.shape
            torch.Size([100, 15])
            >>> dense = torch.zeros(100, 96).scatter_(1, band.index, band.values)
            >>> torch.allclose(dense, rbf(r), rtol=0, atol=1e-10)
            True
        """
        # Under autograd the dense basis: the band's backward (a sorted scatter of the weight rows'
        # gradients) made an Adam step 5-17 % slower with 32-128 outputs and 32-96 functions, and
        # ~5 % faster only at 128 outputs x 96 functions. On a GPU the break-even is unmeasured, and
        # ~10 more kernel launches matter where a one-ligand evaluation is bound by launches.
        if (self.kind != "gaussian" or r.dim() != 1 or r.device.type != "cpu"
                or torch.is_grad_enabled()):
            return self(r, envelope=envelope)
        half = self.band_half_width(r.dtype)
        width = 2 * half + 1
        # a band narrower than half the basis (its gathered rows run at about half a product's rate)
        # that leaves out enough entries to pay for its extra operations; a compiled graph takes the
        # band at every edge count rather than guard on it
        if 2 * width > self.num_rbf or (r.shape[0] * (self.num_rbf - width) < MIN_BANDED_SAVING
                                        and not torch.compiler.is_compiling()):
            return self(r, envelope=envelope)
        envelope = cosine_cutoff(r, self.cutoff) if envelope is None else envelope
        # the band starts h before the nearest centre, moved inside [0, K) at both ends
        first = torch.round(r.detach() / self.spacing).clamp_(half, self.num_rbf - 1 - half).long().sub_(half)
        index = first.unsqueeze(-1) + torch.arange(width, device=r.device)
        centres = self.centres.to(r.dtype).index_select(0, index.view(-1)).view(index.shape)
        # the dense basis's operations on the kept entries: the same values
        return BandedBasis(index, self._gaussians(r.unsqueeze(-1), centres, envelope))

    def extra_repr(self) -> str:
        return f"num_rbf={self.num_rbf}, cutoff={self.cutoff}, kind={self.kind!r}"
