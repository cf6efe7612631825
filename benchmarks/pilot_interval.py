"""Pilot for the snapshot interval of generate_complexes.py: ligand motion versus lag, 2 fs vs HMR 4 fs.

For one complex (same files and protocol as ``generate_complexes.py``), ``--seeds`` trajectories
of ``--ps`` ps are recorded every 20 fs, once with a 2 fs step and plain masses and once with
hydrogen mass repartitioning (3 amu) and a 4 fs step. Printed per lag: the RMS displacement of the
ligand heavy atoms between snapshots that far apart, and the autocorrelation of their deviation
from the mean position (1 = still where it was, 0 = no memory left), plus the speed in ns/day.

    python benchmarks/pilot_interval.py --target tyk2 --seeds 4 --ps 20
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_complexes import complex_list, motion_vs_lag  # noqa: E402

SAMPLE_FS = 20.0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="tyk2")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--ps", type=float, default=20.0, help="recorded ps per trajectory (after 2 ps equilibration)")
    p.add_argument("--pocket", type=float, default=6.0)
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "neuralmd_pilot")
    p.add_argument("--out", type=Path, default=None, help="JSON with the numbers")
    args = p.parse_args(argv)

    from neuralmd.data.openmm import simulate_structures

    target, protein, sdf, index = next(c for c in complex_list(args.cache, 1) if c[0] == args.target)
    results = {}
    for label, step, hydrogen_mass in (("2 fs", 2.0, None), ("HMR 4 fs", 4.0, 3.0)):
        every = int(SAMPLE_FS / step)
        t0 = time.perf_counter()
        md = simulate_structures(protein, sdf, ligand=index, target=target, pocket=args.pocket, timestep_fs=step,
                                 hydrogen_mass=hydrogen_mass, snapshots=int(args.ps * 1000 / SAMPLE_FS),
                                 interval_steps=every, equilibration_steps=int(2000 / step),
                                 trajectories=args.seeds, workdir=args.cache)
        begin = int(md.arrays["molecules_begin_atom_index"][-1])
        heavy = md.arrays["atoms_number"][begin:] > 1
        traj = np.stack([t[:, begin:][:, heavy] for t in md.trajectories])
        speed = np.mean([a["ns_per_day"] for a in md.attrs])
        results[label] = {"atoms": int(md.arrays["atoms_number"].size), "ns_per_day": float(speed),
                          "wall_s": time.perf_counter() - t0, **motion_vs_lag(traj, SAMPLE_FS / 1000)}
        print(label, json.dumps(results[label]), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps({"target": target, "seeds": args.seeds, "ps": args.ps, **results}, indent=1))


if __name__ == "__main__":
    main()
