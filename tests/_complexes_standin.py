"""A stand-in for benchmarks/data/complexes.hdf5: tiny synthetic trajectories named target-ligand-kk."""
from __future__ import annotations

from pathlib import Path

from neuralmd.data import synthetic_trajectories, write_misato


def write_standin(path: Path, plan: list[tuple[str, str]], *, trajectories: int = 2, n_snapshots: int = 8,
                  seed: int = 3) -> Path:
    """``trajectories`` records ``target-ligand-kk`` per (target, ligand) of ``plan``, written to ``path``."""
    records = synthetic_trajectories(trajectories * len(plan), seed=seed, n_snapshots=n_snapshots,
                                     ligand_atoms=(6, 8), residues=(6, 10))
    for n, record in enumerate(records):
        target, ligand = plan[n // trajectories]
        record.id = f"{target}-{ligand}-{n % trajectories:02d}"
    return write_misato(records, path)
