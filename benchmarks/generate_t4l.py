"""Real-MD benchmark data: T4 lysozyme L99A with p-xylene, implicit solvent, written in MISATO layout.

The complex and its Amber parameters (ff96 protein, GAFF ligand, mbondi2 radii) are the ones
``openmmtools`` ships as package data (``data/T4-lysozyme-L99A-implicit``). Each trajectory is Langevin dynamics (OpenMM, OBC2 implicit
solvent, HBond constraints, 2 fs) of the ligand in a rigid, pocket-truncated protein: residues with
any atom within ``--pocket`` Å of the minimised ligand are kept, held fixed (mass 0), and the rest is
dropped. Trajectories differ in their random seed (starting velocities and Langevin noise) and are
cached one by one, so an interrupted run resumes where it stopped.

    python benchmarks/generate_t4l.py                    # 16 x 100 snapshots, ~1 h on one core
    python benchmarks/generate_t4l.py --trajectories 2 --interval-steps 10 --out /tmp/t4l_test.hdf5
    python benchmarks/generate_t4l.py --interval-steps 25 --first-seed 16 --trajectories 32 \
        --out benchmarks/data/t4l_50fs_heldout.hdf5          # new runs T4L_16 ... T4L_47

The HDF5 file has one group per trajectory (``T4L_00``, ..., named by seed: ``--first-seed 16`` gives
``T4L_16``, ..., independent runs beside an earlier file's) with MISATO's keys; the protein atoms
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
except ImportError as err:  # pragma: no cover - the extra is optional
    raise SystemExit("generate_t4l needs OpenMM: pip install 'neuralmd[openmm]'") from err

from neuralmd.data._misato_write import write_atom_trajectory
from neuralmd.data.openmm import PocketMD


OPENMMTOOLS = "openmmtools==0.27.0"
FOLDER = "openmmtools/data/T4-lysozyme-L99A-implicit/"
FILES = ("complex.prmtop", "complex.pdb", "complex.crd", "complex-minimized.crd")
LIGAND = "TMP"  # p-xylene's residue name in the prmtop
ROOT = Path(__file__).resolve().parent


def fetch_complex(cache: Path, files: tuple[str, ...] = FILES) -> Path:
    """The folder holding the T4L ``files``; downloads the openmmtools wheel (no dependencies) if needed."""
    folder = cache / FOLDER
    if all((folder / f).exists() for f in files):
        return folder
    wheels = sorted(cache.glob("openmmtools-0.27.0-*.whl")) + sorted(Path("/tmp/pkgs").glob("openmmtools-0.27.0-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", OPENMMTOOLS, "--no-deps", "-d", str(cache)],
                       check=True)
        wheels = sorted(cache.glob("openmmtools-0.27.0-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        for f in files:
            wheel.extract(FOLDER + f, cache)
    return folder


def pocket_system(folder: Path, *, cutoff_nm: float, pocket: float, timestep_fs: float = 2.0, threads: int = 1,
                  platform: str = "CPU") -> PocketMD:
    """The T4L pocket system the data come from: the openmmtools prmtop (Amber ff96, mbondi2) and its
    minimised coordinates, OBC2 implicit solvent, the protein fixed and cut to ``pocket`` Å."""
    return PocketMD.from_prmtop(folder / "complex.prmtop", folder / "complex-minimized.crd", ligand=LIGAND,
                                implicit_solvent="OBC2", cutoff_nm=cutoff_nm, pocket=pocket,
                                timestep_fs=timestep_fs, threads=threads, platform=platform)


def write_hdf5(path: Path, sim: PocketMD, trajectories: dict[int, np.ndarray], settings: dict) -> None:
    """Each seed's trajectory as group ``T4L_<seed>`` of a MISATO-layout file (written atomically)."""
    arrays = sim.atom_arrays()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        for seed, traj in trajectories.items():
            write_atom_trajectory(f, f"T4L_{seed:02d}", traj, arrays,
                                  {"dt_ps": settings["dt_ps"], "seed": seed, "settings": json.dumps(settings)})
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "data" / "t4l.hdf5")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "neuralmd" / "t4l")
    p.add_argument("--trajectories", type=int, default=16)
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds first..first+trajectories-1; a later start gives new, independent runs")
    p.add_argument("--snapshots", type=int, default=100)
    p.add_argument("--interval-steps", type=int, default=250, help="2 fs steps between snapshots")
    p.add_argument("--equilibration-steps", type=int, default=1000)
    p.add_argument("--pocket", type=float, default=8.0, help="Å; residues with an atom this close are kept")
    p.add_argument("--cutoff", type=float, default=1.0, help="nonbonded and GB cutoff, nm")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.first_seed < 0 or args.trajectories < 1:
        raise SystemExit(f"--first-seed must be >= 0 and --trajectories >= 1, got {args.first_seed}, {args.trajectories}")

    args.cache.mkdir(parents=True, exist_ok=True)
    folder = fetch_complex(args.cache)
    sim = pocket_system(folder, cutoff_nm=args.cutoff, pocket=args.pocket, threads=args.threads)
    settings = {"system": "T4 lysozyme L99A + p-xylene (openmmtools 0.27.0 data), Amber prmtop",
                "solvent": "OBC2 implicit", "cutoff_nm": args.cutoff, "pocket_A": args.pocket,
                "protein": "fixed (mass 0), truncated to the pocket", "constraints": "HBonds",
                "integrator": "LangevinMiddle 300 K, 1/ps", "step_fs": 2.0,
                "interval_steps": args.interval_steps, "equilibration_steps": args.equilibration_steps,
                "dt_ps": args.interval_steps * 2.0e-3, "atoms": len(sim.keep),
                "ligand_atoms": len(sim.keep) - sim.n_protein, "openmm": mm.__version__}
    print(f"{len(sim.keep)} atoms ({sim.n_protein} fixed protein), snapshot every {settings['dt_ps']} ps", flush=True)
    tag = f"p{args.pocket}_c{args.cutoff}_i{args.interval_steps}_e{args.equilibration_steps}_s{args.snapshots}"
    trajectories = {}
    for seed in range(args.first_seed, args.first_seed + args.trajectories):
        cached = args.cache / f"traj_{tag}_seed{seed}.npy"
        if cached.exists():
            trajectories[seed] = np.load(cached)
            continue
        t0 = time.perf_counter()
        traj = sim.run(seed, args.snapshots, args.interval_steps, args.equilibration_steps)
        np.save(cached, traj)
        trajectories[seed] = traj
        print(f"trajectory {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    write_hdf5(args.out, sim, trajectories, settings)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
