"""Real-MD benchmark data across complexes: ligands in the fixed pockets of 10+ proteins, MISATO layout.

Every complex goes through ``neuralmd.data.openmm.simulate_structures`` with one protocol: Amber
ff14SB protein and GAFF2/AM1-BCC ligand (AmberTools), OBC2 implicit solvent (mbondi2 radii, 1 nm
cutoff), the protein cut to the residues within ``--pocket`` Å of the ligand and held fixed,
minimised, then Langevin dynamics (LangevinMiddle, 300 K, 1/ps) with hydrogen mass repartitioning
and a 4 fs step. The structures ship inside PyPI packages (no download of data):

* ``openmmforcefields`` ``data/perses_jacs_systems``: BACE, CDK2, JNK1, MCL1, p38a, PTP1B,
  thrombin, TYK2 (protonated proteins with ACE/NME caps, ligands posed in the site). CDK2's
  phosphothreonine (TPO) uses Amber's phosaa14SB; BACE's spectator molecule (``TLA.sdf``) is a
  separate file and is left out.
* ``openmmtools`` 0.27.0 ``T4-lysozyme-L99A-implicit``: T4 lysozyme L99A (``receptor.pdb``) and
  p-xylene (``ligand.tripos.mol2``), re-parameterised here with the same protocol as the others.
* ``posebusters`` ``datasets/pdb``: crystal complexes 1s3v (DHFR) and 1uou (thymidine
  phosphorylase); their ligands have no hydrogens: bond orders and protonation (+1 each) are set
  from SMILES (``CRYSTAL_LIGANDS``), hydrogens added by RDKit; histidines become HIE (tleap's
  default).

The complexes are simulated in the order of ``complex_list()``: one ligand per protein first, then
more ligands of some targets (for leave-ligand-out tasks). Every finished trajectory is cached in
``--cache``; every finished complex is written to ``--cache/done/<target>-<ligand>.hdf5`` and the
combined ``--out`` file is rewritten atomically (temporary file, then rename) with everything done
so far, so it is usable while the run goes on. Two processes may run at once on the same cache:
each claims a complex before simulating it.

    python benchmarks/generate_complexes.py --out /work/md/complexes.hdf5 --cache /work/md/cache
    python benchmarks/generate_complexes.py --only tyk2 --ligands-per-target 1 --trajectories 1 \\
        --snapshots 10 --out /tmp/tyk2.hdf5                 # one quick complex

Group names are ``{target}-{ligand}-{k:02d}``; each group's attributes hold ``target``, ``ligand``,
``dt_ps``, ``seed``, ``wall_s``, ``ns_per_day`` and ``settings`` (JSON of every setting).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from generate_t4l import fetch_complex  # noqa: E402  (the openmmtools T4L files)

# target -> (protein PDB, ligand SDF), paths inside the installed packages
PERSES = {"tyk2": ("Tyk2_protein.pdb", "Tyk2_ligands_shifted.sdf"), "mcl1": ("MCL1_protein.pdb", "MCL1_ligands.sdf"),
          "jnk1": ("Jnk1_protein.pdb", "Jnk1_ligands.sdf"), "p38": ("p38_protein.pdb", "p38_ligands_shifted.sdf"),
          "thrombin": ("Thrombin_protein.pdb", "Thrombin_ligands.sdf"),
          "ptp1b": ("PTP1B_protein.pdb", "PTP1B_ligands.sdf"), "bace": ("Bace_protein.pdb", "Bace_ligands_shifted.sdf"),
          "cdk2": ("CDK2_protein.pdb", "CDK2_ligands_shifted.sdf")}
PERSES_FOLDER = {"p38": "p38a"}
# targets that get extra ligands, in this order, after one ligand of every protein
EXTRA_LIGANDS = ("tyk2", "mcl1", "jnk1", "p38", "thrombin", "ptp1b", "bace", "cdk2")


def perses_files(target: str) -> tuple[Path, Path]:
    import openmmforcefields

    folder = Path(openmmforcefields.__file__).parent / "data" / "perses_jacs_systems" / PERSES_FOLDER.get(target, target)
    pdb, sdf = PERSES[target]
    return folder / pdb, folder / sdf


# The crystal ligands' SDFs have no hydrogens and bond orders that are not the drug's (1s3v's
# pyrimidine ring is written as a dihydro form with an sp3 C2): bond orders and protonation come
# from these SMILES (matched to the SDF's heavy atoms), hydrogens then from RDKit.
CRYSTAL_LIGANDS = {
    # 2,4-diaminotetrahydroquinazoline antifolate: N1 protonated, as antifolates bind DHFR (+1)
    "1s3v": ("TQD", "COc1cc(cc(OC)c1OC)N(C)CC1CCc2[nH+]c(N)nc(N)c2C1"),
    # 5-chloro-6-(2-iminopyrrolidin-1-yl)methyluracil: the cyclic amidine protonated (+1)
    "1uou": ("CMU", "[NH2+]=C1CCCN1Cc1[nH]c(=O)[nH]c(=O)c1Cl"),
}


def crystal_files(code: str, cache: Path) -> tuple[Path, Path]:
    """Protein PDB and a protonated, hydrogen-complete ligand SDF (see ``CRYSTAL_LIGANDS``)."""
    import posebusters
    from rdkit import Chem
    from rdkit.Chem import AllChem

    folder = Path(posebusters.__file__).parent / "datasets" / "pdb" / code
    sdf = cache / "crystal" / f"{code}_ligand_protonated.sdf"
    if not sdf.exists():
        name, smiles = CRYSTAL_LIGANDS[code]
        posed = next(Chem.SDMolSupplier(str(folder / f"{code}_ligand.sdf")))
        mol = Chem.AddHs(AllChem.AssignBondOrdersFromTemplate(Chem.MolFromSmiles(smiles), posed), addCoords=True)
        mol.SetProp("_Name", name)
        sdf.parent.mkdir(parents=True, exist_ok=True)
        with Chem.SDWriter(str(sdf)) as w:
            w.write(mol)
    return folder / f"{code}_protein_one_lig_removed.pdb", sdf


def t4l_files(cache: Path) -> tuple[Path, Path]:
    """T4L receptor PDB and p-xylene as an SDF (bond orders from the Tripos mol2 of openmmtools)."""
    from rdkit import Chem

    folder = fetch_complex(cache / "t4l", files=("receptor.pdb", "ligand.tripos.mol2"))
    sdf = cache / "t4l" / "p_xylene.sdf"
    if not sdf.exists():
        mol = Chem.MolFromMol2File(str(folder / "ligand.tripos.mol2"), removeHs=False)
        mol.SetProp("_Name", "p_xylene")
        with Chem.SDWriter(str(sdf)) as w:
            w.write(mol)
    return folder / "receptor.pdb", sdf


def complex_list(cache: Path, ligands_per_target: int) -> list[tuple[str, Path, Path, int]]:
    """(target, protein, SDF, ligand index) in simulation order: one ligand per protein, then the
    next ligands of the ``EXTRA_LIGANDS`` targets, round by round, up to ``ligands_per_target``."""
    first = [(t, *perses_files(t), 0) for t in PERSES] + [("t4l", *t4l_files(cache), 0)]
    first += [(c, *crystal_files(c, cache), 0) for c in CRYSTAL_LIGANDS]
    more = [(t, *perses_files(t), i) for i in range(1, ligands_per_target) for t in EXTRA_LIGANDS]
    return first + more


LAGS = (1, 2, 5, 10, 25, 50, 100, 250, 500)


def motion_vs_lag(traj: np.ndarray, sample_ps: float, lags=LAGS) -> dict[str, dict[float, float]]:
    """RMS displacement (Å) and deviation autocorrelation of ``traj`` (S, T, N, 3) at each lag."""
    dev = traj - traj.mean(1, keepdims=True)
    var = (dev ** 2).sum(-1).mean()
    out = {"rms_displacement_A": {}, "autocorrelation": {}}
    for lag in (k for k in lags if k < traj.shape[1]):
        ps = round(lag * sample_ps, 4)
        out["rms_displacement_A"][ps] = float(np.sqrt(((traj[:, lag:] - traj[:, :-lag]) ** 2).sum(-1).mean()))
        out["autocorrelation"][ps] = float((dev[:, lag:] * dev[:, :-lag]).sum(-1).mean() / var)
    return out


def summary(path: Path) -> str:
    """A Markdown table of the complexes in ``path``: sizes, speed, wall time, the ligand's
    heavy-atom motion at lags of 1, 2 and 5 snapshots (``motion_vs_lag`` over its trajectories)
    and its largest heavy-atom RMSD from a trajectory's first snapshot."""
    rows = ["| complex | traj. | atoms | ligand atoms (heavy) | charge | ns/day | wall s | RMS step Å | "
            "autocorr. 1 / 2 / 5 snapshots | max RMSD Å |", "|---|---|---|---|---|---|---|---|---|---|"]
    with h5py.File(path, "r") as f:
        by_complex: dict[str, list] = {}
        for name in sorted(f):
            by_complex.setdefault(name.rsplit("-", 1)[0], []).append(f[name])
        for prefix, groups in by_complex.items():
            s = json.loads(groups[0].attrs["settings"])
            begin = int(groups[0]["molecules_begin_atom_index"][-1])
            heavy = groups[0]["atoms_number"][begin:] > 1
            traj = np.stack([g["trajectory_coordinates"][:, begin:][:, heavy] for g in groups])
            dt = float(groups[0].attrs["dt_ps"])
            m = motion_vs_lag(traj, dt, lags=(1, 2, 5))
            acf = " / ".join(f"{v:.2f}" for v in m["autocorrelation"].values())
            speed = np.mean([float(g.attrs["ns_per_day"]) for g in groups])
            wall = sum(float(g.attrs["wall_s"]) for g in groups)
            rows.append(f"| {prefix} | {len(groups)} | {s['atoms']} | {s['ligand_atoms']} ({int(heavy.sum())}) | "
                        f"{s['ligand_charge']:+d} | {speed:.0f} | {wall:.0f} | "
                        f"{m['rms_displacement_A'][round(dt, 4)]:.2f} | {acf} | "
                        f"{max(float(g['frames_rmsd_ligand'][()].max()) for g in groups):.2f} |")
    return "\n".join(rows)


def _claim(path: Path) -> bool:
    """Claim a complex for this process (a file holding our pid); a dead owner's claim is taken over."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(path.read_text() or 0), 0)
            return False
        except (ProcessLookupError, ValueError):
            path.write_text(str(os.getpid()))
            return True
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def assemble(done: Path, out: Path) -> list[str]:
    """Copy every finished complex in ``done`` into ``out`` (rewritten atomically); returns the ids."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    ids = []
    with h5py.File(tmp, "w") as f:
        for part in sorted(done.glob("*.hdf5")):
            with h5py.File(part, "r") as src:
                for name in src:
                    src.copy(src[name], f, name=name)
                    ids.append(name)
    tmp.replace(out)
    return ids


def write_status(done: Path, status: Path, dt_ps: float, note: str) -> None:
    lines = [f"# Complex MD generation status (updated {time.strftime('%H:%M:%S', time.gmtime())} UTC)", "",
             f"dt_ps = {dt_ps} for every complex. {note}", "",
             "| id prefix | trajectories | atoms | ligand atoms | wall s (all trajectories) | ns/day |",
             "|---|---|---|---|---|---|"]
    for part in sorted(done.glob("*.hdf5")):
        with h5py.File(part, "r") as f:
            groups = [f[n] for n in sorted(f)]
            s = json.loads(groups[0].attrs["settings"])
            wall = sum(float(g.attrs["wall_s"]) for g in groups)
            speed = np.mean([float(g.attrs["ns_per_day"]) for g in groups])
            lines.append(f"| {part.stem}- | {len(groups)} | {s['atoms']} | {s['ligand_atoms']} | {wall:.0f} | {speed:.1f} |")
    tmp = status.with_name(f".{status.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(status)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("/work/md/complexes.hdf5"))
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "neuralmd" / "complexes")
    p.add_argument("--status", type=Path, default=None, help="a Markdown status file, rewritten per complex")
    p.add_argument("--only", nargs="*", default=None, help="targets to simulate (default: all)")
    p.add_argument("--ligands-per-target", type=int, default=4)
    p.add_argument("--trajectories", type=int, default=4)
    p.add_argument("--snapshots", type=int, default=100)
    p.add_argument("--interval-steps", type=int, default=25, help="4 fs steps between snapshots (0.1 ps: see docs/results.md)")
    p.add_argument("--equilibration-steps", type=int, default=500, help="2 ps before the first snapshot")
    p.add_argument("--timestep-fs", type=float, default=4.0)
    p.add_argument("--hydrogen-mass", type=float, default=3.0, help="amu; 0 turns repartitioning off")
    p.add_argument("--pocket", type=float, default=6.0, help="Å; residues with an atom this close are kept")
    p.add_argument("--cutoff", type=float, default=1.0, help="nonbonded and GB cutoff, nm")
    p.add_argument("--solvent", default="OBC2")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--summary", action="store_true", help="only print a Markdown table of --out's complexes")
    args = p.parse_args(argv)
    if args.summary:
        print(summary(args.out))
        return

    from neuralmd.data.openmm import simulate_structures

    done = args.cache / "done"
    done.mkdir(parents=True, exist_ok=True)
    dt_ps = args.interval_steps * args.timestep_fs * 1e-3
    complexes = complex_list(args.cache, args.ligands_per_target)
    if args.only:
        complexes = [c for c in complexes if c[0] in args.only]
    for target, protein, sdf, index in complexes:
        from neuralmd.data._amber_prep import read_ligand

        name = f"{target}-{read_ligand(sdf, ligand=index).name}"
        part = done / f"{name}.hdf5"
        if part.exists() or not _claim(done / f"{name}.claim"):
            continue
        t0 = time.perf_counter()
        result = simulate_structures(
            protein, sdf, ligand=index, target=target, implicit_solvent=args.solvent, cutoff_nm=args.cutoff,
            pocket=args.pocket, timestep_fs=args.timestep_fs, hydrogen_mass=args.hydrogen_mass or None,
            snapshots=args.snapshots, interval_steps=args.interval_steps,
            equilibration_steps=args.equilibration_steps, trajectories=args.trajectories,
            workdir=args.cache, threads=args.threads, log=lambda m: print(m, flush=True))
        for a in result.attrs:
            a["complex_wall_s"] = round(time.perf_counter() - t0, 1)
        with h5py.File(part.with_suffix(".tmp"), "w") as f:
            result.write(f)
        part.with_suffix(".tmp").replace(part)
        (done / f"{name}.claim").unlink(missing_ok=True)
        ids = assemble(done, args.out)
        if args.status is not None:
            write_status(done, args.status, dt_ps, f"{len(ids)} trajectories in {args.out}.")
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s; {args.out} holds {len(ids)} trajectories",
              flush=True)
    ids = assemble(done, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(ids)} trajectories)")


if __name__ == "__main__":
    main()
