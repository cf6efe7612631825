"""Simulate a protein-ligand complex with OpenMM and keep it as trajectory records (extra ``openmm``).

``simulate``/``from_amber`` run an OpenMM ``System`` or Amber files; ``from_structures`` starts
from a protein PDB and a posed ligand SDF (parameters by AmberTools, see ``_amber_prep``) and
simulates the ligand in a fixed, truncated pocket (``PocketMD``). OpenMM is imported only when a
function here runs, so ``neuralmd`` works without it::

    pip install "neuralmd[openmm]"

The examples are skipped by the test suite: they need the optional extra and your own files (a
runnable example is in docs/data.md, and tests/test_data_amber_prep.py runs one end to end).

>>> from neuralmd.data import write_misato                              # doctest: +SKIP
>>> from neuralmd.data.openmm import from_amber, from_structures        # doctest: +SKIP
>>> data = from_amber("complex.prmtop", "complex.inpcrd", ligand="LIG", n_snapshots=100)  # doctest: +SKIP
>>> write_misato(data, "my_md.hdf5")                                    # doctest: +SKIP
>>> records = from_structures("protein.pdb", "ligand.sdf", trajectories=4, path="md.hdf5")  # doctest: +SKIP
"""
from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch_geometric.data import HeteroData

from ._mdanalysis import kabsch
from ._misato_write import hdf5_all_or_nothing, write_atom_trajectory, write_misato
from ._record import POCKET_CUTOFF, make_record, validate_record
from ._tables import residue_code


#: OpenMM's generalized-Born models, as named in ``openmm.app``.
SOLVENT_MODELS = ("HCT", "OBC1", "OBC2", "GBn", "GBn2")


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


def _check_pocket(pocket: float | None, fix_protein: bool) -> None:
    """A truncated pocket must be held fixed: its cut edges would unravel."""
    if pocket is not None and not fix_protein:
        raise ValueError("a truncated pocket must be held fixed (its cut edges would unravel): "
                         "pass fix_protein=True, or pocket=None to simulate the whole protein free")


def _freeze(system, atoms) -> None:
    """Hold ``atoms`` in place: mass 0 (OpenMM never moves a massless particle), and their
    constraints removed (OpenMM refuses a constraint on a massless particle)."""
    frozen = set(atoms)
    for i in frozen:
        system.setParticleMass(i, 0.0)
    for c in reversed(range(system.getNumConstraints())):
        a, b, _ = system.getConstraintParameters(c)
        if a in frozen or b in frozen:
            system.removeConstraint(c)


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
        _freeze(system, prot)
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
                         dt_ps=steps_per_snapshot * timestep_fs * 1e-3)
    validate_record(record, POCKET_CUTOFF)
    if path is not None:
        write_misato(record, path, mode="a")
    return record


def _amber_system(prmtop, coordinates, implicit_solvent: str | None, cutoff_nm: float | None):
    """Amber prmtop + coordinates files and their OpenMM ``System`` (bonds to hydrogen constrained,
    the prmtop's GB radii; ``implicit_solvent`` None is vacuum, ``cutoff_nm`` None no cutoff)."""
    mm = _openmm()
    app, unit = mm.app, mm.unit
    if implicit_solvent is not None and implicit_solvent not in SOLVENT_MODELS:
        raise ValueError(f"implicit_solvent must be one of {SOLVENT_MODELS} or None, got {implicit_solvent!r}")
    top = app.AmberPrmtopFile(str(prmtop))
    crd = app.AmberInpcrdFile(str(coordinates))
    method = app.NoCutoff if cutoff_nm is None else app.CutoffNonPeriodic
    extra = {} if cutoff_nm is None else {"nonbondedCutoff": cutoff_nm * unit.nanometer}
    if implicit_solvent is not None:
        extra["implicitSolvent"] = getattr(app, implicit_solvent)
    return top, crd, top.createSystem(nonbondedMethod=method, constraints=app.HBonds, **extra)


def from_amber(prmtop: str | os.PathLike, inpcrd: str | os.PathLike, ligand: str = "LIG",
               cutoff_nm: float | None = 1.0, implicit_solvent: str | None = "OBC2",
               **kwargs) -> HeteroData:
    """``simulate`` a complex given as Amber topology + coordinates, in implicit solvent.

    ``implicit_solvent`` names an OpenMM generalized-Born model (``HCT``, ``OBC1``, ``OBC2``,
    ``GBn``, ``GBn2``) or ``None`` for vacuum; the prmtop's radii are used. ``cutoff_nm`` is the
    non-bonded cutoff (None: no cutoff); bonds to hydrogen are constrained; other keyword arguments
    go to ``simulate`` (``id`` defaults to the prmtop's file stem).
    """
    top, crd, system = _amber_system(prmtop, inpcrd, implicit_solvent, cutoff_nm)
    kwargs.setdefault("id", os.path.splitext(os.path.basename(str(prmtop)))[0])
    return simulate(system, top.topology, crd.positions, ligand=ligand, **kwargs)


# ---------------------------------------------------------------------------------------------
# Ligand dynamics in a fixed, truncated pocket, and simulating a complex from PDB + SDF files.


def subset_system(system, keep: list[int]):
    """A copy of an implicit-solvent ``system`` restricted to the atoms ``keep`` (in that order).

    Bonded terms survive when all their atoms are kept; nonbonded and generalized-Born parameters
    are copied per atom, exclusions and 1-4 exceptions per kept pair. Handles the forces an Amber
    prmtop gives (harmonic bonds/angles, periodic torsions, NonbondedForce, GBSAOBCForce for
    OBC1/OBC2, CustomGBForce for GBn/GBn2); a CMMotionRemover is dropped (meaningless with a fixed
    protein); any other force is refused by name.
    """
    mm = _openmm()
    idx = {a: i for i, a in enumerate(keep)}
    out = mm.System()
    for a in keep:
        out.addParticle(system.getParticleMass(a))
    _copy_kept_terms(system.getNumConstraints(), system.getConstraintParameters, out.addConstraint, idx, atoms=2)
    for force in system.getForces():
        if isinstance(force, mm.HarmonicBondForce):
            new = mm.HarmonicBondForce()
            _copy_kept_terms(force.getNumBonds(), force.getBondParameters, new.addBond, idx, atoms=2)
        elif isinstance(force, mm.HarmonicAngleForce):
            new = mm.HarmonicAngleForce()
            _copy_kept_terms(force.getNumAngles(), force.getAngleParameters, new.addAngle, idx, atoms=3)
        elif isinstance(force, mm.PeriodicTorsionForce):
            new = mm.PeriodicTorsionForce()
            _copy_kept_terms(force.getNumTorsions(), force.getTorsionParameters, new.addTorsion, idx, atoms=4)
        elif isinstance(force, mm.NonbondedForce):
            new = _copy_kept_particles(force, keep, "ReactionFieldDielectric")
            _copy_kept_terms(force.getNumExceptions(), force.getExceptionParameters, new.addException, idx, atoms=2)
        elif isinstance(force, mm.GBSAOBCForce):
            new = _copy_kept_particles(force, keep, "SolventDielectric", "SoluteDielectric")
        elif isinstance(force, mm.CustomGBForce):
            new = _subset_custom_gb(mm, force, keep, idx)
        elif isinstance(force, mm.CMMotionRemover):
            continue
        else:
            raise ValueError(f"subset_system: cannot truncate a {type(force).__name__}")
        out.addForce(new)
    return out


def _subset_custom_gb(mm, force, keep, idx):
    new = mm.CustomGBForce()
    for i in range(force.getNumGlobalParameters()):
        new.addGlobalParameter(force.getGlobalParameterName(i), force.getGlobalParameterDefaultValue(i))
    for i in range(force.getNumPerParticleParameters()):
        new.addPerParticleParameter(force.getPerParticleParameterName(i))
    for i in range(force.getNumComputedValues()):
        new.addComputedValue(*force.getComputedValueParameters(i))
    for i in range(force.getNumEnergyTerms()):
        new.addEnergyTerm(*force.getEnergyTermParameters(i))
    for i in range(force.getNumTabulatedFunctions()):
        new.addTabulatedFunction(force.getTabulatedFunctionName(i), copy.deepcopy(force.getTabulatedFunction(i)))
    new.setNonbondedMethod(force.getNonbondedMethod())
    new.setCutoffDistance(force.getCutoffDistance())
    for a in keep:
        new.addParticle(force.getParticleParameters(a))
    _copy_kept_terms(force.getNumExclusions(), force.getExclusionParticles, new.addExclusion, idx, atoms=2)
    return new


def _copy_kept_particles(force, keep: list[int], *settings: str):
    """A new force of ``force``'s type with its nonbonded method, cutoff and the named ``settings``
    (each read with ``get<name>`` and written with ``set<name>``) and the per-particle parameters of
    the atoms ``keep``, in that order."""
    new = type(force)()
    for name in ("NonbondedMethod", "CutoffDistance", *settings):
        getattr(new, f"set{name}")(getattr(force, f"get{name}")())
    for a in keep:
        new.addParticle(*force.getParticleParameters(a))
    return new


def _copy_kept_terms(count: int, get: Callable, add: Callable, idx: dict[int, int], *, atoms: int) -> None:
    """Copy the terms ``get(k) = (atom_1, ..., atom_<atoms>, *parameters)``, k < ``count``, whose
    atoms are all kept, to ``add`` with the atoms renumbered by ``idx`` (old index -> new)."""
    for k in range(count):
        term = get(k)
        if all(a in idx for a in term[:atoms]):
            add(*(idx[a] for a in term[:atoms]), *term[atoms:])


class PocketMD:
    """Ligand dynamics in an implicit-solvent complex, optionally in a fixed, truncated pocket.

    Built from an Amber prmtop + coordinates (``from_prmtop``). With ``pocket`` (Å) the protein is
    cut to the residues having any atom within that distance of the ligand (other protein atoms
    are dropped); with ``fix_protein`` every protein atom is held in place (mass 0). The energy is
    minimised once; each ``run(seed)`` restarts from that minimum with new velocities and noise.
    Atoms are kept protein first, ligand last, as MISATO orders them.

    ``hydrogen_mass`` (amu, e.g. 3.0): hydrogen mass repartitioning on the moving atoms, each
    hydrogen's extra mass taken from the heavy atom it is bonded to (total mass unchanged), which
    allows a 4 fs step with bonds to hydrogen constrained.
    """

    def __init__(self, system, topology, positions_nm: np.ndarray, amber_types: list[str], *,
                 ligand: str = "LIG", pocket: float | None = 8.0, fix_protein: bool = True,
                 temperature: float = 300.0, friction_per_ps: float = 1.0, timestep_fs: float = 2.0,
                 hydrogen_mass: float | None = None, minimize_steps: int = 500, platform: str = "CPU",
                 threads: int = 1):
        mm = _openmm()
        unit = mm.unit
        _check_pocket(pocket, fix_protein)
        atoms = list(topology.atoms())
        ligand_atoms = [a.index for a in atoms if a.residue.name == ligand]
        if not ligand_atoms:
            raise ValueError(f"no residue named {ligand!r} in the topology")
        xyz = np.asarray(positions_nm, dtype=np.float64) * 10.0
        lig_set = set(ligand_atoms)
        residues = [r for r in topology.residues() if r.name != ligand]
        if pocket is not None:
            dist = np.linalg.norm(xyz[:, None] - xyz[ligand_atoms][None], axis=-1).min(1)
            residues = [r for r in residues if any(dist[a.index] < pocket for a in r.atoms())]
        protein = [a.index for r in residues for a in r.atoms() if a.index not in lig_set]
        self.keep = protein + ligand_atoms
        self.n_protein = len(protein)
        sub = subset_system(system, self.keep)
        if fix_protein:
            _freeze(sub, range(self.n_protein))
        if hydrogen_mass is not None:
            self._repartition(sub, [atoms[i] for i in self.keep], topology, hydrogen_mass, unit)
        self.system = sub
        self.temperature = temperature
        self.timestep_fs = timestep_fs
        self.integrator = mm.LangevinMiddleIntegrator(temperature * unit.kelvin, friction_per_ps / unit.picosecond,
                                                      timestep_fs * unit.femtoseconds)
        props = {"Threads": str(threads)} if platform == "CPU" else {}
        self.context = mm.Context(sub, self.integrator, mm.Platform.getPlatformByName(platform), props)
        self.context.setPositions(xyz[self.keep] * 0.1)
        mm.LocalEnergyMinimizer.minimize(self.context, maxIterations=minimize_steps)
        self.minimised = self.context.getState(getPositions=True).getPositions(asNumpy=True)
        self.atoms = [atoms[i] for i in self.keep]
        self.amber_types = [amber_types[i] for i in self.keep]

    def _repartition(self, system, kept_atoms, topology, hydrogen_mass, unit):
        pos = {a.index: i for i, a in enumerate(kept_atoms)}
        for a, b in topology.bonds():
            if a.index not in pos or b.index not in pos:
                continue
            h, heavy = (a, b) if a.element is not None and a.element.atomic_number == 1 else (b, a)
            if h.element is None or h.element.atomic_number != 1 or heavy.element.atomic_number == 1:
                continue
            i, j = pos[h.index], pos[heavy.index]
            mh = system.getParticleMass(i).value_in_unit(unit.dalton)
            mx = system.getParticleMass(j).value_in_unit(unit.dalton)
            if mh == 0.0 or mx == 0.0:
                continue  # a fixed atom stays fixed
            extra = hydrogen_mass - mh
            system.setParticleMass(i, hydrogen_mass)
            system.setParticleMass(j, mx - extra)

    @classmethod
    def from_prmtop(cls, prmtop: str | os.PathLike, coordinates: str | os.PathLike, *,
                    implicit_solvent: str = "OBC2", cutoff_nm: float | None = 1.0, **kwargs) -> "PocketMD":
        """From an Amber prmtop and inpcrd/crd, with bonds to hydrogen constrained."""
        top, crd, system = _amber_system(prmtop, coordinates, implicit_solvent, cutoff_nm)
        types = list(top._prmtop._raw_data["AMBER_ATOM_TYPE"])  # the prmtop's own spelling of the types
        xyz = np.asarray(crd.getPositions().value_in_unit(_openmm().unit.nanometer))
        return cls(system, top.topology, xyz, types, **kwargs)

    def run(self, seed: int, snapshots: int, interval_steps: int, equilibration_steps: int) -> np.ndarray:
        """Positions (snapshots, N, 3) float32 Å, one snapshot every ``interval_steps`` steps after
        ``equilibration_steps`` steps from the minimum."""
        unit = _openmm().unit
        self.context.setPositions(self.minimised)
        self.context.setVelocitiesToTemperature(self.temperature * unit.kelvin, seed + 1)  # 0 means "random"
        self.integrator.setRandomNumberSeed(seed + 1)
        self.integrator.step(equilibration_steps)
        out = np.empty((snapshots, len(self.keep), 3), dtype=np.float32)
        for t in range(snapshots):
            self.integrator.step(interval_steps)
            out[t] = self.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)
        return out

    def misato_types(self) -> list[str]:
        """Amber atom types as MISATO writes them: ff14SB's alpha carbon is CX, and readers find
        residues by it, so a protein CA typed CT (older force fields such as ff96) becomes CX."""
        return ["CX" if i < self.n_protein and a.name == "CA" and t == "CT" else t
                for i, (a, t) in enumerate(zip(self.atoms, self.amber_types))]

    def atom_arrays(self) -> dict[str, np.ndarray]:
        """MISATO per-atom arrays (type, number, element, residue codes) and molecule starts: a new
        molecule wherever the kept protein skips a residue or changes chain, and at the ligand."""
        from ._tables import ATOM_TYPE_CODES, ELEMENT_CLASSES

        number = np.array([a.element.atomic_number for a in self.atoms])
        ligand = np.arange(len(self.atoms)) >= self.n_protein
        res = np.array([a.residue.index for a in self.atoms])
        chain = np.array([a.residue.chain.index for a in self.atoms])
        begins = [0] + [i for i in range(1, len(res))
                        if res[i] - res[i - 1] > 1 or chain[i] != chain[i - 1] or i == self.n_protein]
        return {
            "atoms_type": np.array([ATOM_TYPE_CODES.get(t, 0) for t in self.misato_types()]),
            "atoms_number": number,
            "atoms_element": np.array([ELEMENT_CLASSES.get(int(z), 0) for z in number]),
            "atoms_residue": np.where(ligand, 0, [residue_code(a.residue.name) for a in self.atoms]),
            "molecules_begin_atom_index": np.array(begins),
        }



@dataclass
class ComplexMD:
    """All-atom trajectories of one complex from ``simulate_structures``, ready to write.

    ``ids[k]`` names trajectory ``k`` (``{target}-{ligand}-{k:02d}``), ``trajectories[k]`` its
    (T, N, 3) float32 Å positions (kept protein first, ligand last), ``arrays`` MISATO's per-atom
    arrays, ``attrs[k]`` the group attributes (target, ligand, dt_ps, seed, settings as JSON).
    """

    ids: list[str]
    trajectories: list[np.ndarray]
    arrays: dict[str, np.ndarray]
    attrs: list[dict]

    def write(self, f) -> None:
        """Add one MISATO group per trajectory to an open ``h5py.File``."""
        for name, traj, attrs in zip(self.ids, self.trajectories, self.attrs):
            write_atom_trajectory(f, name, traj, self.arrays, attrs)


def _target_name(protein_pdb: str | os.PathLike, target: str | None) -> str:
    """The target part of the record ids ``{target}-{ligand}-{k:02d}``: ``target``, by default the
    PDB's file stem, in lower case with every character outside [a-z0-9_] replaced by '_'."""
    from ._amber_prep import sanitize_name

    return sanitize_name(target or Path(protein_pdb).stem).lower()


def _check_options(*, implicit_solvent, pocket, fix_protein, timestep_fs, hydrogen_mass, snapshots,
                   interval_steps, equilibration_steps, trajectories, temperature, friction_per_ps):
    if implicit_solvent not in SOLVENT_MODELS:
        raise ValueError(f"implicit_solvent must be one of {SOLVENT_MODELS}, got {implicit_solvent!r}")
    if pocket is not None and not pocket > 0:
        raise ValueError(f"pocket must be a positive radius in Å or None, got {pocket}")
    _check_pocket(pocket, fix_protein)
    for name, value in (("snapshots", snapshots), ("interval_steps", interval_steps),
                        ("trajectories", trajectories)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if int(equilibration_steps) != equilibration_steps or equilibration_steps < 0:
        raise ValueError(f"equilibration_steps must be a non-negative integer, got {equilibration_steps}")
    if not timestep_fs > 0 or not temperature > 0 or not friction_per_ps > 0:
        raise ValueError(f"timestep_fs, temperature and friction_per_ps must be positive, got "
                         f"{timestep_fs}, {temperature}, {friction_per_ps}")
    if timestep_fs > 2.5 and hydrogen_mass is None:
        raise ValueError(f"a {timestep_fs} fs step needs hydrogen mass repartitioning (hydrogen_mass=3.0)")
    if hydrogen_mass is not None and not 1.0 < hydrogen_mass < 5.0:
        raise ValueError(f"hydrogen_mass must be between 1 and 5 amu, got {hydrogen_mass}")


def simulate_structures(
    protein_pdb: str | os.PathLike,
    ligand_sdf: str | os.PathLike,
    *,
    ligand: int | str = 0,
    target: str | None = None,
    implicit_solvent: str = "OBC2",
    cutoff_nm: float | None = 1.0,
    pocket: float | None = 6.0,
    fix_protein: bool = True,
    temperature: float = 300.0,
    friction_per_ps: float = 1.0,
    timestep_fs: float = 2.0,
    hydrogen_mass: float | None = None,
    snapshots: int = 100,
    interval_steps: int = 250,
    equilibration_steps: int = 1000,
    minimize_steps: int = 500,
    trajectories: int = 1,
    seed: int = 0,
    workdir: str | os.PathLike | None = None,
    platform: str = "CPU",
    threads: int = 1,
    log=None,
) -> ComplexMD:
    """Parameterise, build and simulate a protein PDB + posed ligand SDF; see ``from_structures``.

    With a ``workdir`` the ligand parameters, the built complex and every finished trajectory are
    kept there (keyed by their inputs and settings), so a second call, or an interrupted one,
    resumes instead of recomputing.
    """
    import json
    import tempfile
    import time

    from . import _amber_prep as prep

    _check_options(implicit_solvent=implicit_solvent, pocket=pocket, fix_protein=fix_protein,
                   timestep_fs=timestep_fs, hydrogen_mass=hydrogen_mass, snapshots=snapshots,
                   interval_steps=interval_steps, equilibration_steps=equilibration_steps,
                   trajectories=trajectories, temperature=temperature, friction_per_ps=friction_per_ps)
    mm = _openmm()
    prep.require_tools()
    protein = prep.read_protein_pdb(protein_pdb)
    lig = prep.read_ligand(ligand_sdf, ligand=ligand)
    target = _target_name(protein_pdb, target)
    prefix = f"{target}-{lig.name}"
    say = log or (lambda msg: None)

    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    root = Path(tmp.name if tmp else workdir)
    try:
        t0 = time.perf_counter()
        mol2, frcmod = prep.parameterize_ligand(lig, root / "ligands")
        t_param = time.perf_counter() - t0
        radii = prep.GB_RADII[implicit_solvent]
        # (mbondi2, the default's radii, is left out of the key so that existing caches stay valid)
        key_text = protein.text + mol2.read_text() + frcmod.read_text() + ("" if radii == "mbondi2" else radii)
        build = root / f"complex_{target}_{lig.name}_{hashlib.sha1(key_text.encode()).hexdigest()[:12]}"
        prmtop, inpcrd = build / "complex.prmtop", build / "complex.inpcrd"
        if not (prmtop.exists() and inpcrd.exists()):
            prep.build_complex(protein, mol2, frcmod, build, radii=radii)
        settings = {
            "protein": f"Amber ff14SB (tleap){' + phosaa14SB' if protein.phospho else ''}, {radii} radii",
            "ligand_ff": "GAFF2, AM1-BCC charges on the posed geometry (antechamber/sqm, no AM1 optimisation), parmchk2", "ligand_charge": lig.charge,
            "ligand_hydrogens_added": lig.added_hydrogens, "solvent": f"{implicit_solvent} implicit",
            "cutoff_nm": cutoff_nm, "pocket_A": pocket,
            "protein_motion": "fixed (mass 0)" if fix_protein else "free", "constraints": "HBonds",
            "integrator": f"LangevinMiddle {temperature} K, {friction_per_ps}/ps", "step_fs": timestep_fs,
            "hydrogen_mass_amu": hydrogen_mass, "interval_steps": interval_steps,
            "equilibration_steps": equilibration_steps, "minimize_steps": minimize_steps,
            "snapshots": snapshots, "dt_ps": interval_steps * timestep_fs * 1e-3, "openmm": mm.__version__,
            "protein_pdb": os.path.basename(str(protein_pdb)), "ligand_sdf": os.path.basename(str(ligand_sdf)),
            "disulfides": len(protein.disulfides), "dropped_residues": protein.dropped,
        }
        t1 = time.perf_counter()
        md = PocketMD.from_prmtop(prmtop, inpcrd, implicit_solvent=implicit_solvent, cutoff_nm=cutoff_nm,
                                  pocket=pocket, fix_protein=fix_protein, temperature=temperature,
                                  friction_per_ps=friction_per_ps, timestep_fs=timestep_fs,
                                  hydrogen_mass=hydrogen_mass, minimize_steps=minimize_steps, platform=platform,
                                  threads=threads)
        settings.update(atoms=len(md.keep), ligand_atoms=len(md.keep) - md.n_protein,
                        parameterize_s=round(t_param, 1), setup_s=round(time.perf_counter() - t1, 1))
        key = hashlib.sha1(json.dumps({k: settings[k] for k in sorted(settings) if not k.endswith("_s")},
                                      sort_keys=True).encode()).hexdigest()[:12]
        ids, trajs, attrs = [], [], []
        for k in range(trajectories):
            cached = build / f"trajectory_{key}_seed{seed + k}.npz"
            if cached.exists():
                with np.load(cached) as saved:
                    traj, wall = saved["positions"], float(saved["wall_s"])
            else:
                t2 = time.perf_counter()
                traj = md.run(seed + k, snapshots, interval_steps, equilibration_steps)
                wall = time.perf_counter() - t2
                if workdir is not None:
                    np.savez(cached.with_suffix(".tmp.npz"), positions=traj, wall_s=wall)
                    cached.with_suffix(".tmp.npz").replace(cached)
            simulated_ps = (snapshots * interval_steps + equilibration_steps) * timestep_fs * 1e-3
            ns_per_day = simulated_ps / 1000 / wall * 86400
            say(f"{prefix}-{k:02d}: {wall:.0f} s, {ns_per_day:.1f} ns/day")
            ids.append(f"{prefix}-{k:02d}")
            trajs.append(traj)
            attrs.append({"target": target, "ligand": lig.name, "dt_ps": settings["dt_ps"], "seed": seed + k,
                          "wall_s": round(wall, 1), "ns_per_day": round(ns_per_day, 2),
                          "settings": json.dumps(settings)})
        return ComplexMD(ids, trajs, md.atom_arrays(), attrs)
    finally:
        if tmp is not None:
            tmp.cleanup()


def from_structures(protein_pdb: str | os.PathLike, ligand_sdf: str | os.PathLike, *,
                    path: str | os.PathLike | None = None, hydrogens: bool = False, **options) -> list[HeteroData]:
    """Simulate a protein + posed ligand given as PDB + SDF; one trajectory record per seed.

    The ligand (the ``ligand``-th molecule of the SDF, or the one of that name) gets GAFF2 types and
    AM1-BCC charges for the net charge of its SDF formal charges (hydrogens added by RDKit if the
    SDF has none); the protein gets Amber ff14SB (ACE/NME caps renamed to Amber's atoms, CYS pairs
    within 2.5 Å bonded as CYX, phosphorylated residues from phosaa14SB, water dropped; any other
    residue is refused by name). The complex is built with tleap, solvated implicitly
    (``implicit_solvent``: OBC2 default, or HCT/OBC1/GBn/GBn2, with Amber's radii for the model,
    e.g. mbondi2 for OBC2 and mbondi3 for GBn2; ``cutoff_nm``),
    truncated to the residues within ``pocket`` Å of the ligand and held fixed (``fix_protein``),
    minimised, then each trajectory ``k`` runs Langevin dynamics (LangevinMiddle, ``temperature``
    K, ``friction_per_ps``, ``timestep_fs``; ``hydrogen_mass`` repartitions hydrogen mass for 4 fs
    steps) for ``equilibration_steps`` and records ``snapshots`` snapshots ``interval_steps`` apart
    with seed ``seed + k``.

    Args:
        protein_pdb, ligand_sdf: the files. Needs OpenMM, AmberTools and RDKit (extra ``openmm``).
        path: if given, the all-atom trajectories (kept protein + ligand) are appended to this
            MISATO-layout HDF5 file, one group per record id; ids already there are refused before
            anything runs.
        hydrogens: keep ligand hydrogens in the returned records.
        **options: keyword-only settings of ``simulate_structures`` (``ligand``, ``target``,
            ``trajectories``, ``snapshots``, ``interval_steps``, ``workdir``, ... as named above).

    Returns:
        Records with ids ``{target}-{ligand}-{k:02d}`` (``target`` defaults to the PDB's file stem,
        the ligand name is the SDF title, both reduced to [A-Za-z0-9_]), ``dt_ps`` =
        ``interval_steps * timestep_fs`` / 1000.

    Raises:
        ImportError / ToolMissingError naming what to install; ValueError for a bad option, a
        missing or unreadable file, an unsupported residue, or ids already in ``path`` (all before
        anything is simulated or written); RuntimeError with the tool's log if AmberTools fails.
    """
    import tempfile

    import h5py

    from . import _amber_prep as prep
    from ._misato_read import read_misato

    if path is not None and not Path(path).resolve().parent.is_dir():
        raise ValueError(f"cannot write {path}: folder {Path(path).resolve().parent} does not exist")
    if path is not None and Path(path).exists():
        with h5py.File(path, "r") as f:
            existing = set(f.keys())
        lig = prep.read_ligand(ligand_sdf, ligand=options.get("ligand", 0))
        prefix = f"{_target_name(protein_pdb, options.get('target'))}-{lig.name}"
        clash = sorted(i for i in existing if i.startswith(f"{prefix}-"))
        if clash:
            raise ValueError(f"{path} already holds {', '.join(clash[:4])}: choose another path or target")
    result = simulate_structures(protein_pdb, ligand_sdf, **options)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(path) if path is not None else Path(tmp) / "md.hdf5"
        with hdf5_all_or_nothing(out, "a") as f:
            result.write(f)
        return [read_misato(out, name, hydrogens=hydrogens) for name in result.ids]
