"""Orthonormal vector frames from two vectors, and projection onto them (paper supplement C)."""
from __future__ import annotations

import torch
from torch import Tensor

#: Below this norm (Å for positions) a direction is treated as undefined and a fallback is used.
DEGENERATE_EPS = 1e-6


def _safe_normalize(v: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Return ``v / |v|`` and a mask of vectors shorter than ``eps``.

    The squared norm is clamped before the square root so that the gradient stays finite at
    ``v = 0`` (the gradient of ``sqrt`` at zero is infinite; the clamp zeroes it instead).
    """
    sq = (v * v).sum(-1, keepdim=True)
    norm = sq.clamp_min(eps * eps).sqrt()
    return v / norm, sq.squeeze(-1) < eps * eps


def _least_aligned_axis(e1: Tensor) -> Tensor:
    """The Cartesian unit axis least aligned with each ``e1`` (a defined, never-parallel helper)."""
    axis = torch.zeros_like(e1)
    idx = e1.detach().abs().argmin(dim=-1, keepdim=True)
    return axis.scatter(-1, idx, 1.0)


def gram_schmidt(a: Tensor, b: Tensor, eps: float = DEGENERATE_EPS) -> Tensor:
    """Orthonormal frame from two vectors by Gram-Schmidt.

    Rows of the result are ``e1 = a/|a|``, ``e2`` = the part of ``b`` orthogonal to ``e1``,
    normalised, and ``e3 = e1 x e2``. For true vectors ``a, b`` the axes ``e1, e2`` rotate and
    reflect with the input while ``e3`` is a pseudo-vector: under a mirror ``P`` it becomes
    ``-P e3``, so the third scalarized component of any true vector flips sign and the frame
    tells mirror images apart (supplement C).

    Degenerate input never gives NaN: if ``|a| < eps`` then ``e1`` is the x axis, and if ``b`` is
    (anti)parallel to ``e1`` or zero then ``e2`` is built from the Cartesian axis least aligned with
    ``e1``. Such fallback frames are finite and orthonormal but, necessarily, not equivariant.

    Args:
        a: (..., 3) first direction.
        b: (..., 3) second direction, broadcastable with ``a``.
        eps: norm below which a direction counts as undefined.

    Returns:
        (..., 3, 3) frames whose rows are ``e1, e2, e3``.

    Example:
        >>> f = gram_schmidt(torch.tensor([2.0, 0, 0]), torch.tensor([1.0, 1, 0]))
        >>> f
        tensor([[1., 0., 0.],
                [0., 1., 0.],
                [0., 0., 1.]])
    """
    a, b = torch.broadcast_tensors(a, b)
    e1, a_degenerate = _safe_normalize(a, eps)
    # The fallbacks are built only when some input needs them (rarely): torch.where would discard
    # them, values and gradients, everywhere else.
    if bool(a_degenerate.any()):
        x_axis = torch.zeros_like(e1)
        x_axis[..., 0] = 1.0
        e1 = torch.where(a_degenerate.unsqueeze(-1), x_axis, e1)

    b_perp = b - (b * e1).sum(-1, keepdim=True) * e1
    e2, b_degenerate = _safe_normalize(b_perp, eps)
    if bool(b_degenerate.any()):
        fallback = _least_aligned_axis(e1)
        fallback = fallback - (fallback * e1).sum(-1, keepdim=True) * e1
        fallback, _ = _safe_normalize(fallback, eps)
        e2 = torch.where(b_degenerate.unsqueeze(-1), fallback, e2)

    e3 = torch.linalg.cross(e1, e2, dim=-1)
    return torch.stack((e1, e2, e3), dim=-2)


def _is_vector(x: Tensor, frame: Tensor) -> bool:
    if frame.shape[-2:] != (3, 3):
        raise ValueError(f"frame must have shape (..., 3, 3), got {tuple(frame.shape)}")
    if x.dim() == frame.dim() - 1 and x.shape[-1] == 3:
        return True
    if x.dim() == frame.dim() and x.shape[-2] == 3:
        return False
    raise ValueError(
        f"expected vectors (..., 3) or features (..., 3, C) matching frames {tuple(frame.shape)}, "
        f"got {tuple(x.shape)}"
    )


def scalarize(v: Tensor, frame: Tensor) -> Tensor:
    """Project vectors or vector features onto frames (Eq. 31): invariant coordinates.

    Args:
        v: vectors (..., 3) or vector features (..., 3, C) (channels last).
        frame: (..., 3, 3) frames with rows ``e1, e2, e3``; leading dims broadcast with ``v``.

    Returns:
        Same shape as ``v``: component ``k`` is ``e_k . v``. Invariant under rotations and
        translations of the geometry; under a mirror the ``e3`` components flip sign.
    """
    vector = _is_vector(v, frame)
    if frame.dim() == 3 and v.shape[0] == frame.shape[0]:  # one frame per row: bmm, no broadcasting
        return torch.bmm(frame, v.unsqueeze(-1)).squeeze(-1) if vector else torch.bmm(frame, v)
    if vector:
        return (frame @ v.unsqueeze(-1)).squeeze(-1)
    return frame @ v


def vectorize(s: Tensor, frame: Tensor) -> Tensor:
    """Inverse of :func:`scalarize`: ``sum_k s_k e_k``.

    Args:
        s: scalar coordinates (..., 3) or (..., 3, C).
        frame: (..., 3, 3) frames with rows ``e1, e2, e3``.

    Returns:
        Vectors of the same shape as ``s``, equivariant when the frames are.
    """
    frame_t = frame.transpose(-1, -2)
    if _is_vector(s, frame):
        return (frame_t @ s.unsqueeze(-1)).squeeze(-1)
    return frame_t @ s
