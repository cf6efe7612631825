"""``neuralmd export``: write a trajectory as ``.xyz`` / ``.traj`` (ASE) or ``.pdb`` / ``.dcd`` / ``.xtc``
(MDAnalysis).

Either a prediction saved by ``neuralmd train`` or ``neuralmd simulate`` (``input=x.pt``), or the
ground-truth trajectory of a complex (``complex=...`` as for simulate), with the protein pocket,
the whole backbone or no protein (``protein_atoms``). Every output's extension is checked before
anything is read, and the outputs are written together or not at all.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, ListConfig

from . import UsageError
from ._build import load_complex
from ._outputs import check_trajectory_outputs, write_all
from ._prediction import load_prediction


def run(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Write ``cfg.output`` (one path or a list) from ``cfg.input`` or ``cfg.complex``."""
    from neuralmd.io import write_trajectory

    if (cfg.input is None) == (cfg.complex is None):
        raise UsageError("give exactly one of input=<prediction.pt> or complex=<id or file>")
    if isinstance(cfg.stride, bool) or not isinstance(cfg.stride, int) or cfg.stride < 1:
        raise UsageError(f"stride must be an integer >= 1, got {cfg.stride!r}")
    outputs = [Path(str(o)) for o in (cfg.output if isinstance(cfg.output, (list, ListConfig)) else [cfg.output])]
    check_trajectory_outputs(outputs, "output")
    if cfg.input is not None:
        saved = load_prediction(str(cfg.input))
        record, traj, what = saved["record"], saved["traj"], f"{saved.get('method', 'model')} prediction"
    else:
        record = load_complex(str(cfg.complex), h5=cfg.h5, trajectory=cfg.trajectory,
                              ligand=cfg.ligand, protein=cfg.protein)
        traj, what = record["ligand"].pos.transpose(0, 1), "ground truth"
    traj = traj[:: int(cfg.stride)]
    write_all({out: (lambda tmp: write_trajectory(tmp, record, traj, protein=cfg.protein_atoms)) for out in outputs})
    for out in outputs:
        print(f"neuralmd export: {record.id} {what}: {traj.shape[0]} frames -> {out}")
