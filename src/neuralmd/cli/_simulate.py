"""``neuralmd simulate``: a trained model's predicted trajectory for one complex, written to disk.

The complex comes as a MISATO id (``complex=5WIJ h5=MD.hdf5``), a MISATO-layout file
(``complex=my.h5`` or ``complex=my.h5:5WIJ``) or a topology MDAnalysis reads
(``complex=system.pdb trajectory=md.dcd``) or a complex of the bundled synthetic data set
(``complex=synthetic:3``: trajectory 3 of ``data=synthetic``'s defaults). The model starts from the pose at snapshot ``start``
(velocity from the snapshot before it, zero when there is none) and predicts ``snapshots`` more.
The output's extension is checked before anything runs, and the trajectory and its ``.pt`` copy
are written together or not at all.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch
from omegaconf import DictConfig

from . import UsageError
from ._build import compile_model, load_complex, resolve_device
from ._checkpoint import model_from_checkpoint
from ._outputs import check_trajectory_outputs, write_all
from ._prediction import save_prediction


def start_snapshot(requested: int, num: int) -> int:
    """``requested`` as an index into ``num`` snapshots (negative counts from the end)."""
    start = requested + num if requested < 0 else requested
    if not 0 <= start < num:
        raise UsageError(f"start={requested} is outside the complex's {num} snapshot(s)")
    return start


def _with_references(record, cfg: DictConfig):
    """``references=[...]``: other trajectories of the complex (MISATO ids or files, read as
    ``complex`` is), whose ligand poses the history methods pool (``with_reference_poses``)."""
    specs = list(cfg.get("references") or [])
    if not specs:
        return record
    from neuralmd.data import with_reference_poses
    others = [load_complex(str(spec), h5=cfg.h5) for spec in specs]
    try:
        return with_reference_poses(record, others)
    except ValueError as err:
        raise UsageError(f"references: {err}") from None


def run(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Roll the checkpoint's model out on ``cfg.complex`` and write ``cfg.output`` (+ a .pt copy)."""
    from neuralmd.io import write_trajectory

    device = resolve_device(str(cfg.device), cfg.get("threads"))
    if isinstance(cfg.snapshots, bool) or not isinstance(cfg.snapshots, int) or cfg.snapshots < 1:
        raise UsageError(f"snapshots must be an integer >= 1, got {cfg.snapshots!r}")
    if cfg.output:
        check_trajectory_outputs([Path(str(cfg.output))], "output", allow_prediction=True)
    model, name, _ = model_from_checkpoint(str(cfg.checkpoint), device)
    if cfg.get("compile") is not None:
        compile_model(model, name, str(cfg.compile), device)
    record = load_complex(str(cfg.complex), h5=cfg.h5, trajectory=cfg.trajectory,
                          ligand=cfg.ligand, protein=cfg.protein)
    record = _with_references(record, cfg)
    start = start_snapshot(int(cfg.start), int(record["ligand"].pos.shape[1]))
    times = torch.arange(start, start + int(cfg.snapshots) + 1, device=device)
    model.eval()
    data = record.to(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        traj = model.rollout(data, times, generator=torch.Generator().manual_seed(int(cfg.seed)))
    seconds = time.perf_counter() - t0
    traj = traj.detach().cpu()
    if not torch.isfinite(traj).all():
        raise ValueError(f"complex {record.id}: the predicted trajectory contains NaN or inf")
    output = Path(str(cfg.output) if cfg.output else f"{record.id}_simulated.xyz")
    record = record.cpu()
    writers = {output.with_suffix(".pt"): lambda tmp: save_prediction(tmp, record, traj, name, start)}
    if output.suffix != ".pt":
        writers = {output: lambda tmp: write_trajectory(tmp, record, traj, protein=cfg.protein_atoms), **writers}
    written = write_all(writers)
    span = f", {cfg.snapshots * record.dt_ps:g} ps" if getattr(record, "dt_ps", None) else ""
    print(f"neuralmd simulate: {name} on {record.id}: {traj.shape[0]} frames ({cfg.snapshots} predicted "
          f"from snapshot {start}{span}) of {traj.shape[1]} ligand atoms in {seconds:.2f} s "
          f"({cfg.snapshots / max(seconds, 1e-9):.1f} snapshots/s); wrote {', '.join(map(str, written))}")
