"""BindingNet on a real large protein: MISATO's 6nij (31,427 atoms, 8 chains) with a placed ligand."""
from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
import torch
from torch_geometric.data import HeteroData

from _layers_records import one_thread  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNet

MISATO = Path(__file__).resolve().parents[2] / "shared" / "data" / "misato"
PDB_FILE = MISATO / "inference_from_pdb.hdf5"
pytestmark = pytest.mark.skipif(not PDB_FILE.exists(), reason=f"MISATO reference data not found at {MISATO}")

# MISATO atom-type codes (atoms_type_map.pickle): backbone N is 'N' (24) or 'N3' (26) at an
# N-terminus, C-alpha is 'CX' (14), carbonyl C is 'C' (3).
N_TYPES, CA_TYPE, C_TYPE = (24, 26), 14, 3
BOND = 1.7  # Å: longest N-CA / CA-C bond accepted


def read_backbone(pdb: str) -> HeteroData:
    """Tiny test-only reader: one residue per C-alpha, its N and C the bonded atoms of those types."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(PDB_FILE, "r") as f:
        group = f[pdb]
        xyz = torch.from_numpy(group["atoms_coordinates_ref"][:])
        kind = torch.from_numpy(group["atoms_type"][:])
        residue_code = torch.from_numpy(group["atoms_residue"][:])
        molecule_start = torch.from_numpy(group["molecules_begin_atom_index"][:])
    ca_index = torch.nonzero(kind == CA_TYPE).squeeze(1)

    def bonded(candidates: torch.Tensor) -> torch.Tensor:
        dist = torch.cdist(xyz[ca_index], xyz[candidates])
        nearest = dist.min(dim=1)
        assert (nearest.values < BOND).all(), "a C-alpha without a bonded backbone atom"
        return candidates[nearest.indices]

    n_index = bonded(torch.nonzero((kind == N_TYPES[0]) | (kind == N_TYPES[1])).squeeze(1))
    c_index = bonded(torch.nonzero(kind == C_TYPE).squeeze(1))
    data = HeteroData()
    data["residue"].backbone = torch.stack((xyz[n_index], xyz[ca_index], xyz[c_index]), dim=1)
    data["residue"].type = residue_code[ca_index].long()
    data["residue"].chain = torch.searchsorted(molecule_start, ca_index, right=True) - 1
    data["residue"].num_nodes = len(ca_index)
    data.id = pdb
    return data


def test_6nij_with_a_40_atom_ligand_in_a_groove():
    data = read_backbone("6nij")
    backbone = data["residue"].backbone
    assert backbone.shape[0] > 1500 and int(data["residue"].chain.max()) == 7
    ca = backbone[:, 1]
    # A "groove": the point 4 Å off the C-alpha that has the most C-alphas within 10 Å.
    crowd = (torch.cdist(ca, ca) < 10.0).sum(1)
    centre = ca[crowd.argmax()] + 4.0
    g = torch.Generator().manual_seed(0)
    data["ligand"].z = torch.tensor([6, 7, 8, 6], dtype=torch.long).repeat(10)
    data["ligand"].pos = (centre + 2.5 * torch.randn(40, 3, dtype=torch.float64, generator=g)).unsqueeze(1)
    torch.manual_seed(0)
    net = BindingNet().double()
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    protein = net.encode_protein(data)
    encode_s = time.perf_counter() - start
    pos = data["ligand"].pos[:, 0].clone().requires_grad_(True)
    start = time.perf_counter()
    forces = net(data, pos, protein=protein)
    forward_s = time.perf_counter() - start
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert forces.shape == (40, 3) and torch.isfinite(forces).all()
    (grad,) = torch.autograd.grad(forces.square().sum(), pos)
    assert torch.isfinite(grad).all()
    contacts = torch.cdist(pos.detach(), protein.ca).lt(net.complex.cutoff).any(1).sum()
    assert contacts > 0, "the ligand should touch the protein for this test to mean anything"
    assert encode_s < 10.0 and forward_s < 2.0, (encode_s, forward_s)
    assert grown_mib < 1500, f"peak memory grew by {grown_mib:.0f} MiB"
