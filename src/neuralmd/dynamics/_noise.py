"""Reproducible, equivariant noise for the stochastic samplers (NeuralMD-SDE, DenoisingLD).

Two properties are wanted from a stochastic rollout and both are delivered here:

* **Sample-path equivariance.** For a fixed seed, rotating the input must rotate every sampled
  trajectory. Cartesian Gaussian noise does not do this (the same numbers are added along the same
  fixed axes). Instead the random numbers are drawn as per-atom *scalars* and turned into vectors
  in a per-atom frame built from the geometry (:func:`equivariant_noise`); an orthonormal frame maps
  an isotropic Gaussian to an isotropic Gaussian, so the distribution is unchanged.
* **Batch independence.** A complex must get the same noise whether it is rolled out alone or in a
  batch. One random seed is drawn per call from the caller's generator (or torch's global one) and
  each complex's stream is derived from ``(seed, complex key)``, where the key is the complex's
  ``id`` (plus its occurrence count among equal ids in the batch), never its position in the batch.

Every per-complex random choice of the package goes through :func:`call_seeds`: the SDE and
Langevin noise, DenoisingLD's sampling and training noise, the ensemble baselines and the training
windows (``_windows``).
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import torch
import torchsde
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from neuralmd._format import ligand_batch
from neuralmd.frames import gram_schmidt, vectorize

#: Length scale (Å) of the soft neighbourhood used for the second frame axis.
NEIGHBOUR_LENGTH = 1.5


def draw_seed(generator: torch.Generator | None = None) -> int:
    """One 62-bit seed from ``generator`` (or torch's global generator when ``None``)."""
    device = "cpu" if generator is None else generator.device
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())


def complex_keys(ids: Sequence[object]) -> list[str]:
    """Stable per-complex keys: ``"<id>#<k>"`` where ``k`` counts earlier complexes with that id.

    Python's ``hash`` is salted per process, so keys are strings hashed with blake2b later.
    """
    seen: dict[str, int] = {}
    keys = []
    for i in ids:
        name = str(i)
        k = seen.get(name, 0)
        seen[name] = k + 1
        keys.append(f"{name}#{k}")
    return keys


def complex_seeds(seed: int, ids: Sequence[object]) -> list[int]:
    """Derive one 63-bit seed per complex from a call seed and the complexes' ids."""
    out = []
    for key in complex_keys(ids):
        digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "little") >> 1)
    return out


#: Graph attribute naming the ensemble member of a replicated complex (its noise stream's tag).
ENSEMBLE_KEY = "ensemble_sample"
#: Graph attribute of a window cut from a longer trajectory (``SingleTrajectoryDataset``): its
#: first snapshot there. Windows of one trajectory share its id, so they are told apart by it.
WINDOW_OFFSET_KEY = "t0"


def _graph_values(data, key: str, num_complexes: int) -> list[object] | None:
    """Graph-level attribute ``key`` as a list of length B, or None when absent or mis-sized."""
    values = getattr(data, key, None)
    if values is None:
        return None
    if isinstance(values, (str, int)):
        values = [values]
    elif isinstance(values, Tensor):
        values = values.reshape(-1).tolist()
    values = list(values)
    return values if len(values) == num_complexes else None


def complex_ids(data, num_complexes: int) -> list[object]:
    """The random-stream key of every complex (list of length B): its ``id`` (the batch index
    without one), tagged ``":t0"`` for a window starting at snapshot t0 of its trajectory and
    ``"@k"`` for replica ``k`` of an ensemble rollout (see ``_base.replicate``)."""
    ids = _graph_values(data, "id", num_complexes) or list(range(num_complexes))
    offsets = _graph_values(data, WINDOW_OFFSET_KEY, num_complexes)
    if offsets is not None:
        ids = [f"{i}:{int(t0)}" for i, t0 in zip(ids, offsets)]
    samples = _graph_values(data, ENSEMBLE_KEY, num_complexes)
    if samples is None:
        return ids
    return [f"{i}@{int(k)}" for i, k in zip(ids, samples)]


def call_seeds(data, generator: torch.Generator | None) -> list[int]:
    """One seed per complex of ``data`` for one call: a seed drawn from ``generator`` (torch's
    global one when None) mixed with each complex's key, so a complex's draws never depend on
    its batch-mates."""
    _, num = ligand_batch(data)
    return complex_seeds(draw_seed(generator), complex_ids(data, num))


def complex_noise(data, generator: torch.Generator | None, like: Tensor) -> "ComplexNoise":
    """The per-complex streams of one call (:func:`call_seeds`), drawing ``like``'s dtype and device."""
    batch, num = ligand_batch(data)
    return ComplexNoise(call_seeds(data, generator), torch.bincount(batch, minlength=num).tolist(), like.dtype,
                        like.device)


class ComplexNoise:
    """Per-complex Gaussian streams: ``sample(n_per_complex, k)`` -> (N, k) standard normals.

    Each complex draws from its own CPU generator, so its numbers depend only on its seed and on
    how many numbers it has drawn before, not on the other complexes in the batch.
    """

    def __init__(self, seeds: Sequence[int], counts: Sequence[int], dtype: torch.dtype,
                 device: torch.device) -> None:
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.counts = [int(c) for c in counts]
        self.dtype, self.device = dtype, device

    def sample(self, k: int = 3) -> Tensor:
        """(N, k) standard normal scalars, complexes concatenated in batch order."""
        parts = [torch.randn(n, k, generator=g, dtype=self.dtype)
                 for g, n in zip(self.generators, self.counts)]
        return torch.cat(parts).to(self.device)

    def uniforms(self) -> Tensor:
        """(B,) one number uniform in ``[0, 1)`` per complex, from its own stream."""
        parts = [torch.rand(1, generator=g, dtype=self.dtype) for g in self.generators]
        return torch.cat(parts).to(self.device)

    def integers(self, high: int) -> Tensor:
        """(B,) long: one integer uniform in ``[0, high)`` per complex, from its own stream."""
        parts = [torch.randint(high, (1,), generator=g) for g in self.generators]
        return torch.cat(parts).to(self.device)


def atom_frames(x: Tensor, batch: Tensor, num_complexes: int) -> Tensor:
    """An equivariant orthonormal frame per ligand atom.

    ``e1`` points from the complex's ligand centroid to the atom, ``e2`` is built from the atom
    minus a soft (softmax over ``-d^2 / NEIGHBOUR_LENGTH^2``) average of the other atoms of the same
    complex, a smooth stand-in for "direction to the nearest neighbour" without argmin ties.
    Atoms at the centroid, single-atom or linear ligands fall back to gram_schmidt's defined (but
    not equivariant) frames.

    Args:
        x: (N, 3) positions in Å.
        batch: (N,) complex index of every atom.
        num_complexes: number of complexes B.

    Returns:
        (N, 3, 3) frames, rows e1, e2, e3.
    """
    dense, mask = to_dense_batch(x, batch, batch_size=num_complexes)  # (B, n, 3), (B, n)
    counts = mask.sum(1, keepdim=True).clamp_min(1).to(x.dtype)
    centroid = dense.sum(1) / counts
    d2 = torch.cdist(dense, dense).pow(2)
    n = dense.shape[1]
    pair = mask.unsqueeze(1) & mask.unsqueeze(2) & ~torch.eye(n, dtype=torch.bool, device=x.device)
    # A finite large negative value (not -inf) keeps rows with no neighbour NaN-free.
    logits = torch.where(pair, -d2 / NEIGHBOUR_LENGTH**2, torch.full_like(d2, -1e30))
    weights = torch.softmax(logits, dim=-1) * pair
    has_neighbour = pair.any(-1, keepdim=True)
    local = torch.where(has_neighbour, weights @ dense, dense)
    a = (dense - centroid.unsqueeze(1))[mask]
    b = (dense - local)[mask]
    return gram_schmidt(a, b)


def equivariant_noise(x: Tensor, batch: Tensor, num_complexes: int, scalars: Tensor) -> Tensor:
    """Map (N, 3) Gaussian scalars to (N, 3) vectors in each atom's frame (isotropic, equivariant)."""
    return vectorize(scalars, atom_frames(x, batch, num_complexes))


class ComplexBrownian(torchsde.BaseBrownian):
    """A torchsde Brownian motion of shape (N, channels), one stream per complex.

    ``channels=1`` (the paper's rank-1 noise) gives one scalar path per atom; ``channels=3`` the
    three independent paths per atom of the full-rank Langevin noise. It concatenates one
    :class:`torchsde.BrownianInterval` of shape (n_k, channels) per complex, each seeded from that
    complex's seed, so an atom's path does not depend on the rest of the batch.
    """

    def __init__(self, t0: float, t1: float, seeds: Sequence[int], counts: Sequence[int], *,
                 dtype: torch.dtype, device: torch.device, levy_area_approximation: str = "none",
                 channels: int = 1):
        self._parts = [
            torchsde.BrownianInterval(t0=t0, t1=t1, size=(int(n), channels), dtype=dtype, device=device,
                                      entropy=s, levy_area_approximation=levy_area_approximation)
            for s, n in zip(seeds, counts)
        ]
        self._shape = (int(sum(counts)), channels)
        self._dtype, self._device, self._levy = dtype, device, levy_area_approximation

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        outs = [p(ta, tb, return_U=return_U, return_A=return_A) for p in self._parts]
        if isinstance(outs[0], tuple):
            return tuple(torch.cat(parts) for parts in zip(*outs))
        return torch.cat(outs)

    def __repr__(self) -> str:
        return f"ComplexBrownian(complexes={len(self._parts)}, shape={self._shape})"

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def levy_area_approximation(self) -> str:
        return self._levy

