"""Symmetry assertions for unit tests of models built on ``neuralmd`` (yours and ours).

Each helper takes ``fn(data) -> Tensor`` on a ligand/residue ``HeteroData`` record (or a ``Batch``
of them) and raises ``AssertionError`` with the worst error when a symmetry is broken.

>>> import torch
>>> from neuralmd.data import synthetic_trajectories
>>> from neuralmd.layers import BindingNet
>>> from neuralmd.testing import assert_equivariant
>>> record = synthetic_trajectories(1, seed=0, n_snapshots=3)[0]
>>> record = record.apply(lambda t: t.double() if t.is_floating_point() else t)   # float64: tight tolerance
>>> model = BindingNet(hidden=8, num_layers=1).double()
>>> assert_equivariant(lambda d: model(d, d["ligand"].pos[:, 0]), record)   # forces rotate with the input
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Optional, Sequence

import torch
from e3nn import o3
from torch import Tensor

__all__ = [
    "random_rigid_motion",
    "transform_record",
    "assert_equivariant",
    "assert_reflection_sensitive",
    "assert_batch_independent",
]

#: Random translations are drawn from N(0, TRANSLATION_SCALE^2) per axis, in Å.
TRANSLATION_SCALE = 10.0
MIRROR = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))


def random_rigid_motion(
    dtype: torch.dtype = torch.float64, generator: Optional[torch.Generator] = None
) -> tuple[Tensor, Tensor]:
    """A uniformly random rotation ``R`` (3, 3) and translation ``t`` (3,) in Å.

    Without ``generator`` this uses e3nn's ``o3.rand_matrix`` and torch's global generator; with
    one, a uniform random unit quaternion drawn from it (``o3.quaternion_to_matrix``).
    """
    if generator is None:
        rotation = o3.rand_matrix(dtype=dtype)
        translation = torch.randn(3, dtype=dtype) * TRANSLATION_SCALE
    else:
        q = torch.randn(4, dtype=torch.float64, generator=generator)
        rotation = o3.quaternion_to_matrix(q / q.norm()).to(dtype)
        translation = (torch.randn(3, dtype=torch.float64, generator=generator) * TRANSLATION_SCALE).to(dtype)
    return rotation, translation


def transform_record(data: Any, rotation: Tensor, translation: Optional[Tensor] = None) -> Any:
    """A deep copy of ``data`` with ``x -> x @ rotation.T + translation`` applied to
    ``ligand.pos`` (N_l, T, 3) or (N_l, 3), ``ligand.reference_pos`` (N_l, R, 3) where present and
    ``residue.backbone`` (N_r, 3, 3); works on a ``Batch`` too. ``rotation`` may be improper (a
    mirror)."""
    out = copy.deepcopy(data)
    for node, key in (("ligand", "pos"), ("ligand", "reference_pos"), ("residue", "backbone")):
        if node in out.node_types and key in out[node]:
            x = out[node][key]
            moved = x @ rotation.to(x.dtype).T
            if translation is not None:
                moved = moved + translation.to(x.dtype)
            out[node][key] = moved
    return out


def _check_worst(errors: Sequence[float], limit: float, describe: Callable[[int, float], str]) -> None:
    """Raise ``AssertionError(describe(index, error))`` for the largest error (NaN counting as the
    largest) when it is not within ``limit``."""
    worst = max(range(len(errors)), key=lambda k: (math.isnan(errors[k]), errors[k]))
    if not errors[worst] <= limit:
        raise AssertionError(describe(worst, errors[worst]))


def _evaluate(fn: Callable[[Any], Tensor], data: Any) -> Tensor:
    out = fn(data)
    if not isinstance(out, Tensor) or out.shape[-1:] != (3,):
        raise AssertionError(f"fn must return a Tensor of shape (..., 3), got {getattr(out, 'shape', type(out))}")
    return out.detach().to(torch.float64)


def _scale(out: Tensor, output: str) -> float:
    if output == "position":
        flat = out.reshape(-1, 3)
        return max(float((flat - flat.mean(0)).abs().max()) if flat.numel() else 0.0, 1.0)
    if output != "vector":
        raise ValueError(f"output must be 'vector' or 'position', got {output!r}")
    biggest = float(out.abs().max()) if out.numel() else 0.0
    return biggest if biggest > 0 else 1.0


def assert_equivariant(
    fn: Callable[[Any], Tensor],
    data: Any,
    *,
    output: str = "vector",
    trials: int = 3,
    rtol: float = 1e-8,
    generator: Optional[torch.Generator] = None,
) -> None:
    """Assert ``fn(g.data) == g fn(data)`` for random rotations plus translations ``g``.

    Vectors (``output="vector"``, e.g. forces) must rotate and ignore translations; positions
    (``"position"``) must rotate and translate. The error is ``max |fn(g.data) - g fn(data)|``
    divided by ``max |fn(data)|`` (vectors) or by ``max(max |centred fn(data)|, 1 Å)`` (positions).
    Use float64 data: float32 round-off is ~1e-6.
    """
    reference = _evaluate(fn, data)
    scale = _scale(reference, output)
    errors = []
    for _ in range(trials):
        rotation, translation = random_rigid_motion(torch.float64, generator)
        moved = _evaluate(fn, transform_record(data, rotation, translation))
        expected = reference @ rotation.T
        if output == "position":
            expected = expected + translation
        if moved.shape != expected.shape:
            raise AssertionError(f"output shape changed under a rigid motion: {tuple(moved.shape)} vs {tuple(expected.shape)}")
        errors.append(float((moved - expected).abs().max()) / scale if moved.numel() else 0.0)
    _check_worst(errors, rtol, lambda trial, worst: (
        f"not {output}-equivariant: worst relative error {worst:.3e} > rtol {rtol:.1e} "
        f"(trial {trial} of {trials}, output scale {scale:.3e})"))


def assert_reflection_sensitive(
    fn: Callable[[Any], Tensor],
    data: Any,
    *,
    output: str = "vector",
    min_relative_difference: float = 1e-6,
    rotate: bool = True,
) -> None:
    """Assert that ``fn`` sees chirality: ``fn(M.data)`` differs from ``M fn(data)`` for the mirror
    ``M = R diag(1, 1, -1)`` (``R`` a random rotation when ``rotate``, else the identity).

    A model that only uses distances, or treats every frame axis as a true vector, is
    reflection-equivariant and fails this; a model with pseudo-vector frames passes. The difference
    is measured as in :func:`assert_equivariant`.
    """
    reference = _evaluate(fn, data)
    mirror = MIRROR.clone()
    if rotate:
        mirror = random_rigid_motion(torch.float64)[0] @ mirror
    mirrored = _evaluate(fn, transform_record(data, mirror))
    difference = float((mirrored - reference @ mirror.T).abs().max()) / _scale(reference, output)
    if not difference > min_relative_difference:
        raise AssertionError(
            f"fn looks reflection-equivariant (blind to chirality): relative difference "
            f"{difference:.3e} <= {min_relative_difference:.1e} between fn(mirror data) and mirror fn(data)"
        )


def assert_batch_independent(
    fn: Callable[[Any], Tensor],
    records: Sequence[Any],
    *,
    atom_dim: int = -2,
    atol: float = 1e-10,
) -> None:
    """Assert that batching changes nothing: ``fn(Batch.from_data_list(records))`` split along
    ``atom_dim`` by each record's ligand atom count equals ``fn(record)`` for every record."""
    from torch_geometric.data import Batch

    if len(records) == 0:
        raise ValueError("records is empty")
    batched = fn(Batch.from_data_list(list(records))).detach()
    sizes = [int(r["ligand"].num_nodes) for r in records]
    if batched.shape[atom_dim] != sum(sizes):
        raise AssertionError(
            f"batched output has {batched.shape[atom_dim]} entries along dim {atom_dim}, "
            f"expected {sum(sizes)} ligand atoms"
        )
    errors = []
    for index, (part, record) in enumerate(zip(batched.split(sizes, dim=atom_dim), records)):
        alone = fn(record).detach()
        if alone.shape != part.shape:
            raise AssertionError(f"record {index}: shape {tuple(alone.shape)} alone vs {tuple(part.shape)} in the batch")
        errors.append(float((alone - part).abs().max()) if part.numel() else 0.0)
    _check_worst(errors, atol, lambda index, worst: (
        f"not batch-independent: record {index} differs by {worst:.3e} > atol {atol:.1e} "
        f"between its output alone and inside a batch of {len(records)}"))
