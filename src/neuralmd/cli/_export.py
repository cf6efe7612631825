"""``neuralmd export``: write a trajectory as ``.xyz`` / ``.pdb`` / ``.traj`` through ASE.

Either a prediction saved by ``neuralmd train`` or ``neuralmd simulate`` (``input=x.pt``), or the
ground-truth trajectory of a complex (``complex=...`` as for simulate), with the protein pocket,
the whole backbone or no protein (``protein_atoms``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from omegaconf import DictConfig, ListConfig

from . import UsageError
from ._build import load_complex


def load_prediction(path: str | Path) -> dict[str, Any]:
    """A ``{"record", "traj", ...}`` file written by train or simulate."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "prediction file not found", str(path))
    # weights_only=False: the file holds a HeteroData record written by this tool.
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(obj, dict) or "record" not in obj or "traj" not in obj:
        raise ValueError(f"{path} is not a neuralmd prediction file (no record/traj)")
    return obj


def run(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Write ``cfg.output`` (one path or a list) from ``cfg.input`` or ``cfg.complex``."""
    from neuralmd.io import write_trajectory

    if (cfg.input is None) == (cfg.complex is None):
        raise UsageError("give exactly one of input=<prediction.pt> or complex=<id or file>")
    if int(cfg.stride) < 1:
        raise UsageError(f"stride must be at least 1, got {cfg.stride}")
    if cfg.input is not None:
        saved = load_prediction(str(cfg.input))
        record, traj, what = saved["record"], saved["traj"], f"{saved.get('method', 'model')} prediction"
    else:
        record = load_complex(str(cfg.complex), h5=cfg.h5, trajectory=cfg.trajectory,
                              ligand=cfg.ligand, protein=cfg.protein)
        traj, what = record["ligand"].pos.transpose(0, 1), "ground truth"
    traj = traj[:: int(cfg.stride)]
    outputs = list(cfg.output) if isinstance(cfg.output, (list, ListConfig)) else [cfg.output]
    for out in map(Path, map(str, outputs)):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_trajectory(out, record, traj, protein=cfg.protein_atoms)
        print(f"neuralmd export: {record.id} {what}: {traj.shape[0]} frames -> {out}")
