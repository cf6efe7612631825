"""Algorithm 1's training windows, drawn per complex so that ``model.loss`` is batch-independent.

Algorithm 1 trains on random windows: a start snapshot ``s`` uniform in ``[1, T - 1 - W]`` (``s >=
1`` so the initial velocity ``x_s - x_{s-1}`` is a true finite difference) and the W snapshots after
it as targets. The start of each complex is drawn from a generator of its own, seeded by one seed
per call (drawn from the caller's generator) and the complex's key (its id, see
``_noise.complex_ids``), exactly as the SDE noise is: a complex trains on the same window alone, in
any batch, on any DDP rank. :func:`crop_windows` cuts records to those same windows, so that
trajectories of different lengths can share a batch.
"""
from __future__ import annotations

import copy
from typing import Any, NamedTuple, Sequence

import torch
from torch import Tensor

from .._format import check_trajectory, complex_name, ligand_batch
from ._noise import complex_ids, complex_seeds, draw_seed


class Windows(NamedTuple):
    """Training windows of :func:`sample_windows`, one per complex."""

    x0: Tensor          #: (N, 3) known pose at each atom's window start
    v0: Tensor          #: (N, 3) finite-difference velocity there
    targets: Tensor     #: (W+1, N, 3) snapshots start..start+W, targets[0] = x0
    window: int         #: W, future snapshots per window
    start: Tensor       #: (N,) long start snapshot of each atom's complex


def initial_state(pos: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """Known pose and finite-difference velocity at snapshot ``start`` (paper section 4.3).

    ``v_t = x_t - x_{t-1}`` in Å per snapshot interval. At ``t = 0`` there is no earlier snapshot
    and a forward difference would peek at the future, so the velocity is zero there.

    Args:
        pos: (N, T, 3) trajectories.
        start: (N,) long start snapshot of every atom (its complex's start).

    Returns:
        x0 (N, 3) and v0 (N, 3).
    """
    atoms = torch.arange(pos.shape[0], device=pos.device)
    x0 = pos[atoms, start]
    prev = pos[atoms, (start - 1).clamp_min(0)]
    return x0, torch.where((start > 0).unsqueeze(-1), x0 - prev, torch.zeros_like(x0))


def window_length(num_snapshots: int, window: int, name: str = "complex") -> int:
    """W for trajectories of ``num_snapshots``: ``window``, shortened to fit (at least 1); a
    trajectory of fewer than 3 snapshots has no window (one ValueError naming ``name``)."""
    if num_snapshots < 3:
        raise ValueError(f"{name}: training needs at least 3 snapshots, got {num_snapshots}")
    return max(1, min(int(window), num_snapshots - 2))


def window_starts(seed: int, keys: Sequence[object], lengths: Sequence[int], window: int) -> list[int]:
    """The start snapshot of each complex's window, uniform in ``[1, T - 1 - window]`` for its
    length T, drawn from a generator seeded by ``(seed, key)`` (``_noise.complex_seeds``)."""
    return [1 + int(torch.randint(int(n) - 1 - window, (1,), generator=torch.Generator().manual_seed(s)))
            for s, n in zip(complex_seeds(seed, keys), lengths)]


def sample_windows(data: Any, window: int, generator: torch.Generator | None = None) -> Windows:
    """One random training window per complex of ``data`` (a record or a PyG ``Batch``).

    The window of a complex depends only on the seed drawn from ``generator`` (torch's global
    generator when None) and on its key, never on the other complexes of the batch; the window is
    shortened when the trajectory is too short for it.

    Returns:
        :class:`Windows`: x0, v0, targets, the window W and each atom's start snapshot.
    """
    pos = check_trajectory(data)
    batch, num = ligand_batch(data)
    num_snapshots = pos.shape[1]
    window = window_length(num_snapshots, window, complex_name(data))
    starts = window_starts(draw_seed(generator), complex_ids(data, num), [num_snapshots] * num, window)
    start = torch.tensor(starts, dtype=torch.long, device=pos.device)[batch]
    x0, v0 = initial_state(pos, start)
    atoms = torch.arange(pos.shape[0], device=pos.device)
    steps = torch.arange(window + 1, device=pos.device)
    targets = pos[atoms.unsqueeze(0), start.unsqueeze(0) + steps.unsqueeze(1)]
    return Windows(x0, v0, targets, window, start)


def crop_windows(records: Sequence[Any], window: int, generator: torch.Generator | None = None) -> list[Any]:
    """Every record cut to its training window: snapshots ``s - 1 .. s + W`` (W + 2 of them).

    The starts are those :func:`sample_windows` draws for ``Batch.from_data_list(records)`` from
    the same generator state (records of one length); W is ``window`` shortened to fit the shortest
    record. The crops all have W + 2 snapshots, so records of different lengths can share a batch,
    and ``model.loss`` on them has exactly their window to choose. Tensors are shared, not copied.
    """
    lengths = [int(r["ligand"].pos.shape[1]) for r in records]
    shortest = min(lengths)
    window = window_length(shortest, window, complex_name(records[lengths.index(shortest)]))
    keys = [complex_ids(r, 1)[0] for r in records]
    crops = []
    for record, start in zip(records, window_starts(draw_seed(generator), keys, lengths, window)):
        crop = copy.copy(record)          # new stores, shared tensors: the record itself is untouched
        crop["ligand"].pos = record["ligand"].pos[:, start - 1:start + window + 1]
        crops.append(crop)
    return crops
