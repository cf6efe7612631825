"""Tiny synthetic records and a cheap equivariant stand-in force field for the dynamics tests.

The stand-in has BindingNet's interface (``encode_protein``, ``forward``, ``energy``) and a
BindingNet-Ligand stand-in has ``(z, pos, batch, vec) -> (h, vec)``; both are exactly
SE(3)-equivariant, chiral (a cross-product term), batch-local and learnable, and run in
microseconds so that optimisation tests stay fast.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, HeteroData
from torch_geometric.utils import scatter

from neuralmd._format import node_batch


@pytest.fixture(autouse=True)
def one_thread():
    """Run a test with one intra-op thread: two cores shared by several processes oversubscribe
    with torch's default thread count and slow these small-tensor tests tenfold."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_record(seed: int = 0, n_lig: int = 6, n_res: int = 10, T: int = 8, name: str | None = None,
                motion: str = "wobble", dtype=torch.float64) -> HeteroData:
    """One synthetic trajectory: a small ligand in a ring of residues.

    motion: "wobble" (rigid rotation + drift + per-atom oscillation), "static" or "linear".
    """
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n_lig, 3, generator=g, dtype=dtype) * 1.2
    t = torch.arange(T, dtype=dtype)
    if motion == "static":
        pos = base.unsqueeze(1).expand(n_lig, T, 3).clone()
    elif motion == "linear":
        vel = torch.randn(n_lig, 3, generator=g, dtype=dtype) * 0.2
        pos = base.unsqueeze(1) + t.view(1, -1, 1) * vel.unsqueeze(1)
    else:
        angle = 0.15 * t
        c, s = torch.cos(angle), torch.sin(angle)
        rot = torch.zeros(T, 3, 3, dtype=dtype)
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1], rot[:, 2, 2] = c, -s, s, c, 1.0
        drift = torch.stack((0.1 * t, 0.05 * t, torch.zeros_like(t)), -1)
        phase = torch.rand(n_lig, 1, generator=g, dtype=dtype) * 6.28
        osc = 0.2 * torch.sin(0.8 * t.view(1, -1) + phase).unsqueeze(-1)
        pos = torch.einsum("tij,nj->nti", rot, base) + drift.unsqueeze(0) + osc
    ang = torch.linspace(0, 2 * math.pi, n_res + 1, dtype=dtype)[:-1]
    ca = torch.stack((6 * torch.cos(ang), 6 * torch.sin(ang), torch.randn(n_res, generator=g, dtype=dtype)), -1)
    n_atom = ca + torch.randn(n_res, 3, generator=g, dtype=dtype) * 0.6
    c_atom = ca + torch.randn(n_res, 3, generator=g, dtype=dtype) * 0.6
    data = HeteroData()
    data["ligand"].z = torch.randint(6, 9, (n_lig,), generator=g)
    data["ligand"].mass = torch.tensor([12.0, 14.0, 16.0], dtype=dtype)[data["ligand"].z - 6]
    data["ligand"].pos = pos
    data["residue"].type = torch.randint(0, 20, (n_res,), generator=g)
    data["residue"].backbone = torch.stack((n_atom, ca, c_atom), dim=1)
    data["residue"].chain = torch.zeros(n_res, dtype=torch.long)
    data.id = name or f"toy{seed}"
    data.dt_ps = 0.08
    return data


def make_batch(records) -> Batch:
    return Batch.from_data_list(list(records))


def rigid_motion(data: HeteroData, rot: Tensor, shift: Tensor) -> HeteroData:
    """Copy of ``data`` with every coordinate mapped to ``rot @ x + shift``."""
    out = data.clone()
    out["ligand"].pos = data["ligand"].pos @ rot.T + shift
    out["residue"].backbone = data["residue"].backbone @ rot.T + shift
    return out


def _complex_batch(data, store: str, key: str) -> Tensor:
    """The complex of every node of ``store``, as the package reads it (PyG gives the residues of
    these records no batch vector: their count cannot be inferred)."""
    return node_batch(data, store, key)


def _num(data) -> int:
    return int(getattr(data, "num_graphs", 1) or 1)


class ToyLigandNet(nn.Module):
    """Equivariant (h, vec) from (z, pos, batch, vec): centroid, chiral and input-vec terms."""

    def __init__(self, hidden: int = 16, num_layers: int = 2, cutoff: float = 5.0) -> None:
        super().__init__()
        self.hidden = hidden
        self.embed = nn.Embedding(10, hidden)
        self.w = nn.Parameter(torch.tensor([0.3, 0.1, 0.5, 0.2]))
        self.lin = nn.Linear(hidden + 1, hidden)

    def forward(self, z: Tensor, pos: Tensor, batch: Tensor | None = None, vec: Tensor | None = None):
        batch = torch.zeros_like(z) if batch is None else batch
        num = int(batch.max()) + 1
        centroid = scatter(pos, batch, 0, dim_size=num, reduce="mean")[batch]
        rel = pos - centroid
        r = rel.norm(dim=-1, keepdim=True)
        # A per-complex weighted sum of relative positions: crossing with it makes the net chiral.
        axis = scatter(rel * r.pow(2), batch, 0, dim_size=num, reduce="sum")[batch]
        h = torch.tanh(self.lin(torch.cat((self.embed(z % 10).to(pos.dtype), r), -1)))
        scale = h.mean(-1, keepdim=True)
        out = self.w[0] * rel * scale + self.w[1] * torch.linalg.cross(rel, axis) * 0.1
        if vec is not None:
            out = out + self.w[2] * vec + self.w[3] * vec * scale
        return h, out


class ToyEncoding:
    def __init__(self, ca: Tensor, batch: Tensor) -> None:
        self.ca, self.batch = ca, batch


class ToyForceField(nn.Module):
    """Pairwise springs within each ligand, attraction to C-alphas, a chiral twist; counts encodings."""

    def __init__(self) -> None:
        super().__init__()
        self.log_k = nn.Parameter(torch.tensor(-1.0))
        self.r0 = nn.Parameter(torch.tensor(1.5))
        self.attract = nn.Parameter(torch.tensor(0.05))
        self.twist = nn.Parameter(torch.tensor(0.02))
        self.encode_calls = 0

    def encode_protein(self, data) -> ToyEncoding:
        self.encode_calls += 1
        res = data["residue"]
        return ToyEncoding(res.backbone[:, 1], _complex_batch(data, "residue", "type"))

    def _terms(self, data, x: Tensor, protein: ToyEncoding | None):
        protein = self.encode_protein(data) if protein is None else protein
        batch = _complex_batch(data, "ligand", "z")
        same = batch.unsqueeze(0) == batch.unsqueeze(1)
        diff = x.unsqueeze(1) - x.unsqueeze(0)  # (N, N, 3) x_i - x_j
        d = diff.pow(2).sum(-1).add(1e-12).sqrt()
        pair = same & ~torch.eye(x.shape[0], dtype=torch.bool)
        return protein, batch, pair, diff, d

    def forward(self, data, x: Tensor, protein: ToyEncoding | None = None) -> Tensor:
        protein, batch, pair, diff, d = self._terms(data, x, protein)
        k = self.log_k.exp()
        stretch = torch.where(pair, -k * (d - self.r0) / d, torch.zeros_like(d))
        spring = (stretch.unsqueeze(-1) * diff).sum(1)
        to_ca = protein.ca.unsqueeze(0) - x.unsqueeze(1)  # (N, R, 3)
        near = (batch.unsqueeze(1) == protein.batch.unsqueeze(0)).to(x.dtype)
        w = near * torch.exp(-to_ca.pow(2).sum(-1) / 50.0)
        pull = self.attract * (w.unsqueeze(-1) * to_ca).sum(1)
        num = int(batch.max()) + 1
        centroid = scatter(x, batch, 0, dim_size=num, reduce="mean")[batch]
        ca_mean = scatter(protein.ca, protein.batch, 0, dim_size=num, reduce="mean")[batch]
        chiral = self.twist * torch.linalg.cross(x - centroid, ca_mean - centroid)
        return spring + pull + chiral

    def energy(self, data, x: Tensor, protein: ToyEncoding | None = None) -> Tensor:
        protein, batch, pair, diff, d = self._terms(data, x, protein)
        k = self.log_k.exp()
        e_pair = torch.where(pair, 0.25 * k * (d - self.r0) ** 2, torch.zeros_like(d)).sum(1)
        to_ca = protein.ca.unsqueeze(0) - x.unsqueeze(1)
        near = (batch.unsqueeze(1) == protein.batch.unsqueeze(0)).to(x.dtype)
        e_ca = -self.attract * 25.0 * (near * torch.exp(-to_ca.pow(2).sum(-1) / 50.0)).sum(1)
        return scatter(e_pair + e_ca, batch, 0, dim_size=int(batch.max()) + 1, reduce="sum")


def toy_factory() -> nn.Module:
    return ToyLigandNet().double()


#: Rollout times of the symmetry checks: from snapshot 3, so the history-fitted methods see four snapshots.
ENSEMBLE_TIMES = [3, 4, 6]


def seeded_ensemble(model, samples: int = 3):
    """The ensemble (K, T, N, 3) at :data:`ENSEMBLE_TIMES` flattened to (K * T, N, 3), atoms second
    to last as the assertion helpers expect; the generator is re-seeded on every call."""
    def fn(data):
        with torch.no_grad():
            out = model.rollout(data, ENSEMBLE_TIMES, generator=torch.Generator().manual_seed(7), samples=samples)
        return out.reshape(-1, *out.shape[2:])
    return fn


def assert_ensemble_equivariant_and_batch_independent(fn, make) -> None:
    """``fn`` is SE(3)-equivariant on ``make(3, 7, 12)`` and batch-independent on
    ``make(i, 4 + i, 9 + i)``, i = 0, 1, 2; ``make(seed, n_lig, n_res)`` builds a record."""
    from neuralmd.testing import assert_batch_independent, assert_equivariant

    assert_equivariant(fn, make(3, 7, 12), output="position", trials=2, rtol=1e-8,
                       generator=torch.Generator().manual_seed(1))
    assert_batch_independent(fn, [make(i, 4 + i, 9 + i) for i in range(3)], atom_dim=-2, atol=1e-10)
