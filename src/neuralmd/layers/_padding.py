"""Edge sets padded to a few fixed sizes, so that shape-specialised code (CUDA graphs) is reused.

A rollout changes its neighbour lists at almost every step: the ligand's edge count and its pocket
residues move by a few. Code recorded for one shape (a CUDA graph replays fixed buffers) would be
recorded again for each count met. Padding every count up to the next of a few sizes
(:func:`padded_size`: at most 8 sizes per doubling, fewer than 32 or than 12.5 % extra rows) with
rows that repeat a real edge and carry a zero edge weight gives the same function (every sum over
edges is weighted by the envelope, and the padding's is exactly zero) on a handful of shapes.
"""
from __future__ import annotations

import torch
from torch import Tensor

#: Sizes below this are padded to a multiple of it; above, to a multiple of 1/8 of their power of two.
MIN_PADDING_STEP = 32


def padded_size(count: int) -> int:
    """The smallest of the fixed sizes that holds ``count`` rows: 0 for 0, else a multiple of
    ``max(32, 2**floor(log2(count)) / 8)``, so at most 8 sizes per doubling of the count.

    Example:
        >>> [padded_size(n) for n in (0, 1, 32, 33, 482, 15000)]
        [0, 32, 32, 64, 512, 15360]
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    step = max(MIN_PADDING_STEP, (1 << (max(count, 1).bit_length() - 1)) // 8)
    return -(-count // step) * step


def pad_rows(tensor: Tensor, size: int) -> Tensor:
    """``tensor`` (n, ...) with rows appended that repeat its row 0, to ``size`` rows (n >= 1, or
    n = size = 0)."""
    missing = size - tensor.shape[0]
    if missing == 0:
        return tensor
    return torch.cat((tensor, tensor[:1].expand(missing, *tensor.shape[1:])), dim=0)


def pad_edges(edge_index: Tensor, *per_edge: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor, list[Tensor]]:
    """``edge_index`` (2, E) and the ``per_edge`` tensors (E, ...) padded to :func:`padded_size` (E)
    rows by repeating edge 0, and the edge weight (E',) of ``dtype``: 1 on the real edges, 0 on the
    padding (multiply it into every weight of a sum over edges)."""
    num = edge_index.shape[1]
    size = padded_size(num)
    weight = torch.ones(size, dtype=dtype, device=edge_index.device)
    weight[num:] = 0.0
    return pad_rows(edge_index.t(), size).t().contiguous(), weight, [pad_rows(t, size) for t in per_edge]
