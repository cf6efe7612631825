"""Real-MD benchmark data: T4 lysozyme L99A with p-xylene, implicit solvent, written in MISATO layout.

The complex and its Amber parameters (ff96 protein, GAFF ligand, mbondi2 radii) are the ones
``openmmtools`` ships as package data (``data/T4-lysozyme-L99A-implicit``). Each trajectory is Langevin dynamics (OpenMM, OBC2 implicit
solvent, HBond constraints, 2 fs) of the ligand in a rigid, pocket-truncated protein: residues with
any atom within ``--pocket`` Å of the minimised ligand are kept, held fixed (mass 0), and the rest is
dropped. Trajectories differ in their random seed (starting velocities and Langevin noise) and are
cached one by one, so an interrupted run resumes where it stopped.

    python benchmarks/generate_t4l.py                    # 16 x 100 snapshots, ~1 h on one core
    python benchmarks/generate_t4l.py --trajectories 2 --interval-steps 10 --out /tmp/t4l_test.hdf5

The HDF5 file has one group per trajectory (``T4L_00``, ...) with MISATO's keys; the protein atoms
come first, one molecule per contiguous fragment of the truncated chain, the ligand last. Extra group
attributes record ``dt_ps`` and the simulation settings.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np

try:
    import openmm as mm
    from openmm import app, unit
except ImportError as err:  # pragma: no cover - the extra is optional
    raise SystemExit("generate_t4l needs OpenMM: pip install 'neuralmd[openmm]'") from err


OPENMMTOOLS = "openmmtools==0.27.0"
FOLDER = "openmmtools/data/T4-lysozyme-L99A-implicit/"
FILES = ("complex.prmtop", "complex.pdb", "complex.crd", "complex-minimized.crd")
LIGAND = "TMP"  # p-xylene's residue name in the prmtop
ROOT = Path(__file__).resolve().parent


def fetch_complex(cache: Path) -> Path:
    """The folder holding the T4L files; downloads the openmmtools wheel (no dependencies) if needed."""
    folder = cache / FOLDER
    if all((folder / f).exists() for f in FILES):
        return folder
    wheels = sorted(cache.glob("openmmtools-0.27.0-*.whl")) + sorted(Path("/tmp/pkgs").glob("openmmtools-0.27.0-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", OPENMMTOOLS, "--no-deps", "-d", str(cache)],
                       check=True)
        wheels = sorted(cache.glob("openmmtools-0.27.0-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        for f in FILES:
            wheel.extract(FOLDER + f, cache)
    return folder


def subset_system(system: mm.System, keep: list[int]) -> mm.System:
    """A copy of an Amber implicit-solvent ``system`` restricted to the atoms ``keep``.

    Bonded terms survive when all their atoms are kept; nonbonded and GB parameters are copied per
    atom, exclusions/1-4 exceptions per kept pair.
    """
    idx = {a: i for i, a in enumerate(keep)}
    out = mm.System()
    for a in keep:
        out.addParticle(system.getParticleMass(a))
    for k in range(system.getNumConstraints()):
        a, b, d = system.getConstraintParameters(k)
        if a in idx and b in idx:
            out.addConstraint(idx[a], idx[b], d)
    for force in system.getForces():
        if isinstance(force, mm.HarmonicBondForce):
            new = mm.HarmonicBondForce()
            for k in range(force.getNumBonds()):
                a, b, *p = force.getBondParameters(k)
                if a in idx and b in idx:
                    new.addBond(idx[a], idx[b], *p)
        elif isinstance(force, mm.HarmonicAngleForce):
            new = mm.HarmonicAngleForce()
            for k in range(force.getNumAngles()):
                *atoms, r, kf = force.getAngleParameters(k)
                if all(a in idx for a in atoms):
                    new.addAngle(*(idx[a] for a in atoms), r, kf)
        elif isinstance(force, mm.PeriodicTorsionForce):
            new = mm.PeriodicTorsionForce()
            for k in range(force.getNumTorsions()):
                *atoms, n, phase, kf = force.getTorsionParameters(k)
                if all(a in idx for a in atoms):
                    new.addTorsion(*(idx[a] for a in atoms), n, phase, kf)
        elif isinstance(force, mm.NonbondedForce):
            new = mm.NonbondedForce()
            new.setNonbondedMethod(force.getNonbondedMethod())
            new.setCutoffDistance(force.getCutoffDistance())
            new.setReactionFieldDielectric(force.getReactionFieldDielectric())
            for a in keep:
                new.addParticle(*force.getParticleParameters(a))
            for k in range(force.getNumExceptions()):
                a, b, *p = force.getExceptionParameters(k)
                if a in idx and b in idx:
                    new.addException(idx[a], idx[b], *p)
        elif isinstance(force, mm.GBSAOBCForce):
            new = mm.GBSAOBCForce()
            new.setNonbondedMethod(force.getNonbondedMethod())
            new.setCutoffDistance(force.getCutoffDistance())
            new.setSolventDielectric(force.getSolventDielectric())
            new.setSoluteDielectric(force.getSoluteDielectric())
            for a in keep:
                new.addParticle(*force.getParticleParameters(a))
        else:
            continue  # CMMotionRemover: meaningless with a fixed protein
        out.addForce(new)
    return out


class PocketSimulation:
    """Ligand dynamics in the fixed, truncated T4L pocket (one OpenMM context, reused per seed)."""

    def __init__(self, folder: Path, pocket: float = 8.0, cutoff_nm: float = 1.0, threads: int = 1,
                 platform: str = "CPU", friction: float = 1.0, step_fs: float = 2.0):
        prmtop = app.AmberPrmtopFile(str(folder / "complex.prmtop"))
        start = app.AmberInpcrdFile(str(folder / "complex-minimized.crd"))
        xyz = np.asarray(start.getPositions().value_in_unit(unit.angstrom))
        atoms = list(prmtop.topology.atoms())
        ligand = [a.index for a in atoms if a.residue.name == LIGAND]
        near = np.linalg.norm(xyz[:, None] - xyz[ligand][None], axis=-1).min(1) < pocket
        pocket_atoms = sorted(a.index for r in prmtop.topology.residues() if r.name != LIGAND
                              and any(near[b.index] for b in r.atoms()) for a in r.atoms())
        self.keep = pocket_atoms + ligand  # protein first, ligand last, as in MISATO
        self.n_protein = len(pocket_atoms)
        full = prmtop.createSystem(implicitSolvent=app.OBC2, nonbondedMethod=app.CutoffNonPeriodic,
                                   nonbondedCutoff=cutoff_nm * unit.nanometer, constraints=app.HBonds)
        system = subset_system(full, self.keep)
        for i in range(self.n_protein):
            system.setParticleMass(i, 0.0)  # OpenMM never moves a massless particle
        for k in reversed(range(system.getNumConstraints())):
            a, b, _ = system.getConstraintParameters(k)
            if a < self.n_protein and b < self.n_protein:
                system.removeConstraint(k)
        self.step_ps = step_fs / 1000.0
        self.integrator = mm.LangevinMiddleIntegrator(300 * unit.kelvin, friction / unit.picosecond,
                                                      self.step_ps * unit.picosecond)
        props = {"Threads": str(threads)} if platform == "CPU" else {}
        self.context = mm.Context(system, self.integrator, mm.Platform.getPlatformByName(platform), props)
        self.context.setPositions(xyz[self.keep] * 0.1)
        mm.LocalEnergyMinimizer.minimize(self.context, maxIterations=500)
        self.minimised = self.context.getState(getPositions=True).getPositions(asNumpy=True)
        raw = prmtop._prmtop._raw_data  # Amber atom types and residue names as the prmtop spells them
        self.amber_types = [raw["AMBER_ATOM_TYPE"][i] for i in self.keep]
        self.atoms = [atoms[i] for i in self.keep]
        self.residue_index = [atoms[i].residue.index for i in self.keep]

    def run(self, seed: int, snapshots: int, interval_steps: int, equilibration_steps: int) -> np.ndarray:
        """Positions (snapshots, N, 3) float32 Å, one snapshot every ``interval_steps`` steps."""
        self.context.setPositions(self.minimised)
        self.context.setVelocitiesToTemperature(300 * unit.kelvin, seed + 1)  # 0 would mean "random"
        self.integrator.setRandomNumberSeed(seed + 1)
        self.integrator.step(equilibration_steps)
        out = np.empty((snapshots, len(self.keep), 3), dtype=np.float32)
        for t in range(snapshots):
            self.integrator.step(interval_steps)
            out[t] = self.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)
        return out

    def misato_types(self) -> list[str]:
        """Amber atom types as MISATO writes them. The prmtop uses Amber ff96, whose alpha carbon is
        type CT; MISATO's ff14SB calls that atom CX (and readers find residues by it), so protein
        CA atoms become CX. Every other type is kept as the prmtop has it."""
        return ["CX" if i < self.n_protein and a.name == "CA" else t
                for i, (a, t) in enumerate(zip(self.atoms, self.amber_types))]

    def atom_arrays(self) -> dict[str, np.ndarray]:
        """MISATO per-atom arrays (type, number, element, residue codes) and molecule starts."""
        from neuralmd.data._tables import ATOM_TYPE_CODES, ELEMENT_CLASSES, residue_code

        number = np.array([a.element.atomic_number for a in self.atoms])
        ligand = np.arange(len(self.atoms)) >= self.n_protein
        # a new molecule wherever the kept protein skips residues, and at the ligand
        res = np.array(self.residue_index)
        begins = [0] + [i for i in range(1, len(res)) if res[i] - res[i - 1] > 1 or i == self.n_protein]
        return {
            "atoms_type": np.array([ATOM_TYPE_CODES.get(t, 0) for t in self.misato_types()]),
            "atoms_number": number,
            "atoms_element": np.array([ELEMENT_CLASSES.get(int(z), 0) for z in number]),
            "atoms_residue": np.where(ligand, 0, [residue_code(a.residue.name) for a in self.atoms]),
            "molecules_begin_atom_index": np.array(begins),
        }


def ligand_rmsd(traj: np.ndarray, ligand: slice, heavy: np.ndarray) -> np.ndarray:
    """Per-snapshot RMSD (Å) of the ligand heavy atoms from the first snapshot, no fitting (fixed frame)."""
    lig = traj[:, ligand][:, heavy]
    return np.sqrt(((lig - lig[:1]) ** 2).sum(-1).mean(-1))


def write_hdf5(path: Path, sim: PocketSimulation, trajectories: list[np.ndarray], settings: dict) -> None:
    arrays = sim.atom_arrays()
    ligand = slice(sim.n_protein, None)
    heavy = arrays["atoms_number"][ligand] > 1
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        for k, traj in enumerate(trajectories):
            g = f.create_group(f"T4L_{k:02d}")
            g.create_dataset("trajectory_coordinates", data=traj, compression="gzip", compression_opts=9,
                             shuffle=True, chunks=traj.shape)
            for key, value in arrays.items():
                g.create_dataset(key, data=value.astype(np.int64), compression="gzip")
            g.create_dataset("frames_rmsd_ligand", data=ligand_rmsd(traj, ligand, heavy))
            g.attrs["dt_ps"] = settings["dt_ps"]
            g.attrs["seed"] = k
            g.attrs["settings"] = json.dumps(settings)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "data" / "t4l.hdf5")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "neuralmd" / "t4l")
    p.add_argument("--trajectories", type=int, default=16)
    p.add_argument("--snapshots", type=int, default=100)
    p.add_argument("--interval-steps", type=int, default=250, help="2 fs steps between snapshots")
    p.add_argument("--equilibration-steps", type=int, default=1000)
    p.add_argument("--pocket", type=float, default=8.0, help="Å; residues with an atom this close are kept")
    p.add_argument("--cutoff", type=float, default=1.0, help="nonbonded and GB cutoff, nm")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    args.cache.mkdir(parents=True, exist_ok=True)
    folder = fetch_complex(args.cache)
    sim = PocketSimulation(folder, pocket=args.pocket, cutoff_nm=args.cutoff, threads=args.threads)
    settings = {"system": "T4 lysozyme L99A + p-xylene (openmmtools 0.27.0 data), Amber prmtop",
                "solvent": "OBC2 implicit", "cutoff_nm": args.cutoff, "pocket_A": args.pocket,
                "protein": "fixed (mass 0), truncated to the pocket", "constraints": "HBonds",
                "integrator": "LangevinMiddle 300 K, 1/ps", "step_fs": 2.0,
                "interval_steps": args.interval_steps, "equilibration_steps": args.equilibration_steps,
                "dt_ps": args.interval_steps * sim.step_ps, "atoms": len(sim.keep),
                "ligand_atoms": len(sim.keep) - sim.n_protein, "openmm": mm.__version__}
    print(f"{len(sim.keep)} atoms ({sim.n_protein} fixed protein), snapshot every {settings['dt_ps']} ps", flush=True)
    tag = f"p{args.pocket}_c{args.cutoff}_i{args.interval_steps}_e{args.equilibration_steps}_s{args.snapshots}"
    trajectories = []
    for seed in range(args.trajectories):
        cached = args.cache / f"traj_{tag}_seed{seed}.npy"
        if cached.exists():
            trajectories.append(np.load(cached))
            continue
        t0 = time.perf_counter()
        traj = sim.run(seed, args.snapshots, args.interval_steps, args.equilibration_steps)
        np.save(cached, traj)
        trajectories.append(traj)
        print(f"trajectory {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    write_hdf5(args.out, sim, trajectories, settings)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
