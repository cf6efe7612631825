"""Simulate a protein-ligand complex with OpenMM and keep it as a trajectory record (extra ``openmm``).

OpenMM is imported only when a function here runs, so ``neuralmd`` works without it::

    pip install "neuralmd[openmm]"

The example is skipped by the test suite: it needs the optional extra and your own Amber files.

>>> from neuralmd.data.openmm import from_amber           # doctest: +SKIP
>>> data = from_amber("complex.prmtop", "complex.inpcrd", ligand="LIG", n_snapshots=100)  # doctest: +SKIP
>>> write_misato(data, "my_md.hdf5")                       # doctest: +SKIP
"""
from __future__ import annotations

import copy

import os

import numpy as np
import torch
from torch_geometric.data import HeteroData

from ._mdanalysis import kabsch
from ._misato_write import write_misato
from ._record import POCKET_CUTOFF, make_record, validate_record
from ._tables import residue_code


def _openmm():
    try:
        import openmm
        import openmm.app
        import openmm.unit
    except ImportError as err:
        raise ImportError("neuralmd.data.openmm needs OpenMM, which is an optional extra: "
                          "pip install 'neuralmd[openmm]' (or: conda install -c conda-forge openmm)") from err
    return openmm


def _split_atoms(topology, ligand: str):
    """Ligand atom indices, protein atom indices, and per-residue (N, CA, C) indices, types, chains."""
    lig, prot, backbone, types, chains = [], [], [], [], []
    chain_of = {}
    for res in topology.residues():
        atoms = {a.name: a.index for a in res.atoms()}
        if res.name == ligand:
            lig += [a.index for a in res.atoms()]
        elif all(k in atoms for k in ("N", "CA", "C")):
            prot += list(atoms.values())
            backbone.append([atoms["N"], atoms["CA"], atoms["C"]])
            types.append(residue_code(res.name))
            chains.append(chain_of.setdefault(res.chain.index, len(chain_of)))
    return lig, prot, backbone, types, chains


def simulate(
    system,
    topology,
    positions,
    *,
    ligand: str = "LIG",
    n_snapshots: int = 100,
    steps_per_snapshot: int = 500,
    timestep_fs: float = 2.0,
    temperature: float = 300.0,
    friction_per_ps: float = 1.0,
    fix_protein: bool = True,
    minimize: bool = True,
    hydrogens: bool = False,
    id: str = "openmm",
    seed: int = 0,
    platform: str | None = None,
    path: str | os.PathLike | None = None,
) -> HeteroData:
    """Run Langevin MD of an OpenMM ``System`` and record the ligand as a trajectory record.

    Args:
        system, topology: an ``openmm.System`` and its ``openmm.app.Topology``.
        positions: starting positions (an OpenMM quantity, or an (N, 3) array in nm).
        ligand: residue name of the ligand. Protein residues are those with N, CA and C atoms.
        n_snapshots, steps_per_snapshot, timestep_fs: T snapshots, ``steps_per_snapshot`` steps of
            ``timestep_fs`` fs apart (``dt_ps`` = their product / 1000).
        temperature: K. friction_per_ps: Langevin collision rate.
        fix_protein: hold every protein atom in place (mass 0, OpenMM's way of freezing atoms;
            constraints on those atoms are dropped); otherwise the protein moves and every snapshot
            is superimposed on the first by its backbone, as ``from_mdanalysis`` does.
        minimize: minimise the energy before the first snapshot.
        hydrogens: keep ligand hydrogens. id: the record's id. seed: the integrator's random seed.
        platform: OpenMM platform name ("CPU", "CUDA", ...), default OpenMM's choice.
        path: if given, also append the record to this MISATO-layout HDF5 file.

    Returns:
        ``HeteroData`` record: ``ligand.pos`` (N_l, T, 3) Å, protein backbone from the first snapshot.
    """
    mm = _openmm()
    unit = mm.unit
    lig, prot, backbone, types, chains = _split_atoms(topology, ligand)
    if not lig:
        raise ValueError(f"complex {id}: no residue named {ligand!r} in the topology")
    if fix_protein:
        system = copy.deepcopy(system)  # freezing edits masses and constraints: leave the caller's intact
        for i in prot:
            system.setParticleMass(i, 0.0)
        frozen = set(prot)
        for c in reversed(range(system.getNumConstraints())):
            a, b, _ = system.getConstraintParameters(c)
            if a in frozen or b in frozen:
                system.removeConstraint(c)
    integrator = mm.LangevinMiddleIntegrator(temperature * unit.kelvin, friction_per_ps / unit.picosecond,
                                             timestep_fs * unit.femtoseconds)
    integrator.setRandomNumberSeed(seed)
    args = (mm.Platform.getPlatformByName(platform),) if platform else ()
    context = mm.Context(system, integrator, *args)
    context.setPositions(positions if unit.is_quantity(positions) else np.asarray(positions) * unit.nanometer)
    if minimize:
        mm.LocalEnergyMinimizer.minimize(context, maxIterations=200)
    context.setVelocitiesToTemperature(temperature * unit.kelvin, seed)
    snapshots = []
    for t in range(n_snapshots):
        if t:
            integrator.step(steps_per_snapshot)
        xyz = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)
        snapshots.append(np.asarray(xyz, dtype=np.float64))
    bb_idx = np.asarray(backbone, dtype=np.int64).reshape(-1)
    ref = snapshots[0][bb_idx] if len(bb_idx) else np.zeros((0, 3))
    lig_traj = []
    for xyz in snapshots:
        r, shift = kabsch(xyz[bb_idx], ref) if len(bb_idx) >= 3 else (np.eye(3), np.zeros(3))
        lig_traj.append(xyz[lig] @ r.T + shift)
    atoms = list(topology.atoms())
    z = np.array([atoms[i].element.atomic_number if atoms[i].element is not None else 0 for i in lig])
    keep = np.ones(len(lig), dtype=bool) if hydrogens else z != 1
    pos = torch.as_tensor(np.stack(lig_traj, axis=1)[keep], dtype=torch.float32)
    record = make_record(id, torch.as_tensor(z[keep]), pos, torch.as_tensor(types, dtype=torch.long),
                         torch.as_tensor(ref.reshape(-1, 3, 3)), torch.as_tensor(chains, dtype=torch.long),
                         steps_per_snapshot * timestep_fs * 1e-3)
    validate_record(record, POCKET_CUTOFF)
    if path is not None:
        write_misato(record, path, mode="a")
    return record


def from_amber(prmtop: str | os.PathLike, inpcrd: str | os.PathLike, ligand: str = "LIG",
               cutoff_nm: float | None = 1.0, implicit_solvent: str | None = "OBC2",
               **kwargs) -> HeteroData:
    """``simulate`` a complex given as Amber topology + coordinates, in implicit solvent.

    ``implicit_solvent`` names an OpenMM generalized-Born model (``HCT``, ``OBC1``, ``OBC2``,
    ``GBn``, ``GBn2``) or ``None`` for vacuum; the prmtop's radii are used. ``cutoff_nm`` is the
    non-bonded cutoff (None: no cutoff); bonds to hydrogen are constrained; other keyword arguments
    go to ``simulate`` (``id`` defaults to the prmtop's file stem).
    """
    mm = _openmm()
    app, unit = mm.app, mm.unit
    top = app.AmberPrmtopFile(str(prmtop))
    crd = app.AmberInpcrdFile(str(inpcrd))
    method = app.NoCutoff if cutoff_nm is None else app.CutoffNonPeriodic
    extra = {} if cutoff_nm is None else {"nonbondedCutoff": cutoff_nm * unit.nanometer}
    if implicit_solvent is not None:
        models = ("HCT", "OBC1", "OBC2", "GBn", "GBn2")
        if implicit_solvent not in models:
            raise ValueError(f"implicit_solvent must be one of {models} or None, got {implicit_solvent!r}")
        extra["implicitSolvent"] = getattr(app, implicit_solvent)
    system = top.createSystem(nonbondedMethod=method, constraints=app.HBonds, **extra)
    kwargs.setdefault("id", os.path.splitext(os.path.basename(str(prmtop)))[0])
    return simulate(system, top.topology, crd.positions, ligand=ligand, **kwargs)
