"""Small synthetic protein-ligand records for the layers and testing tests (no neuralmd.data)."""
from __future__ import annotations

from typing import Iterator, Optional

import pytest
import torch
from torch_geometric.data import HeteroData


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run a module's tests on one torch thread: these graphs are tiny, and on a loaded machine
    intra-op threads waiting for each other made them ten times slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def random_backbone(num_residues: int, generator: torch.Generator, start: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(N_r, 3, 3) float64 backbone rows N, CA, C: a C-alpha walk with 3.8 Å steps that turns by at
    most ~60 degrees, N and C placed 1.46 / 1.52 Å from CA towards the previous / next residue."""
    ca = torch.zeros(num_residues, 3, dtype=torch.float64)
    ca[0] = start if start is not None else torch.zeros(3, dtype=torch.float64)
    step = _unit(torch.randn(3, dtype=torch.float64, generator=generator))
    for i in range(1, num_residues):
        step = _unit(step + 0.9 * _unit(torch.randn(3, dtype=torch.float64, generator=generator)))
        ca[i] = ca[i - 1] + 3.8 * step
    prev = torch.cat((ca[:1] - (ca[1:2] - ca[:1]), ca[:-1])) if num_residues > 1 else ca - 1.0
    nxt = torch.cat((ca[1:], ca[-1:] + (ca[-1:] - ca[-2:-1]))) if num_residues > 1 else ca + 1.0
    jitter = 0.3 * torch.randn(num_residues, 2, 3, dtype=torch.float64, generator=generator)
    n = ca + 1.46 * _unit(_unit(prev - ca) + jitter[:, 0])
    c = ca + 1.52 * _unit(_unit(nxt - ca) + jitter[:, 1])
    return torch.stack((n, ca, c), dim=1)


def random_record(
    seed: int,
    num_atoms: int = 10,
    num_residues: int = 24,
    num_chains: int = 2,
    num_frames: int = 3,
    spread: float = 2.0,
    name: str = "toy",
) -> HeteroData:
    """A ligand of ``num_atoms`` heavy atoms scattered (std ``spread`` Å) around a random C-alpha of
    a ``num_chains``-chain protein of ``num_residues`` residues, with ``num_frames`` snapshots."""
    g = torch.Generator().manual_seed(seed)
    per_chain = [num_residues // num_chains + (k < num_residues % num_chains) for k in range(num_chains)]
    chains = [random_backbone(m, g, start=torch.randn(3, dtype=torch.float64, generator=g) * 6.0) for m in per_chain]
    backbone = torch.cat(chains)
    chain = torch.cat([torch.full((m,), k, dtype=torch.long) for k, m in enumerate(per_chain)])
    anchor = backbone[int(torch.randint(num_residues, (1,), generator=g)), 1]
    pos0 = anchor + spread * torch.randn(num_atoms, 3, dtype=torch.float64, generator=g)
    pos = pos0.unsqueeze(1) + 0.2 * torch.randn(num_atoms, num_frames, 3, dtype=torch.float64, generator=g)
    pos[:, 0] = pos0
    data = HeteroData()
    elements = torch.tensor([6, 7, 8, 16], dtype=torch.long)
    data["ligand"].z = elements[torch.randint(4, (num_atoms,), generator=g)]
    data["ligand"].mass = data["ligand"].z.double() * 2.0
    data["ligand"].pos = pos
    data["residue"].type = torch.randint(0, 23, (num_residues,), generator=g)
    data["residue"].backbone = backbone
    data["residue"].chain = chain
    data["residue"].num_nodes = num_residues
    data.id = f"{name}{seed}"
    data.dt_ps = 80.0
    return data
