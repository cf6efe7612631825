"""Atomic checkpoints, random-number-generator state, and finding runs to resume.

A checkpoint is one ``torch.save`` dict of tensors, numbers, strings, lists and dicts only, so
``torch.load(path, weights_only=True)`` reads it (the numpy and Python RNG states are stored as a
tensor and tuples). It is written to a temporary file in the same folder, flushed to disk and
renamed over the old one with ``os.replace``, which is atomic on POSIX and Windows: a run killed at
any moment leaves either the previous complete checkpoint or the new complete one, never a
truncated file; the temporary files such a kill leaves are removed when the run is resumed.

A run folder holds ``checkpoint.pt`` (the last epoch, for resuming) and ``best.pt`` (the epoch with
the best validation score, the one evaluated by default).
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"


def _file_mode() -> int:
    """The mode ``open()`` gives new files (0o666 less the umask); ``mkstemp`` would give 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, write) -> Path:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, fsync, rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        # Leave no half-written temporary behind, whatever interrupted us (KeyboardInterrupt too).
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    return _atomic_write(Path(path), lambda f: f.write(text.encode()))


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder`` (``.<name>.*.tmp``)."""
    stale = list(Path(folder).glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (write to a temporary file, fsync, rename)."""
    return _atomic_write(Path(path), lambda f: torch.save(obj, f))


def rng_state() -> dict[str, Any]:
    """The state of every global generator a training step may draw from."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only when CUDA is present)."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def checkpoint_path(path: str | os.PathLike, *, which: str = "best") -> Path:
    """The checkpoint file named by ``path``: the file itself, or in a run folder ``best.pt``
    (``which="best"``, when the run has one) or ``checkpoint.pt`` (``which="last"``)."""
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    path = Path(path)
    if path.is_dir():
        path = path / BEST if which == "best" and (path / BEST).is_file() else path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(2, "No such checkpoint", str(path))
    return path


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu", *, which: str = "best") -> dict[str, Any]:
    """Load a checkpoint written by ``neuralmd train`` (a file, or a run folder: see
    :func:`checkpoint_path`). Raises ``ValueError`` when the file is not one."""
    path = checkpoint_path(path, which=which)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged or foreign file
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise ValueError(f"{path} is not a readable neuralmd checkpoint ({reason}); pass the checkpoint.pt "
                         "or best.pt of a run folder written by neuralmd train") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{path} is not a neuralmd checkpoint (no model state or config)")
    return ckpt


def model_from_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", *,
                          which: str = "best") -> tuple[Any, str, dict[str, Any]]:
    """Rebuild a trained model on ``device`` (EMA weights when the run used EMA); returns the
    model, its display name and the checkpoint."""
    from ._build import build_model
    state = load(path, map_location="cpu", which=which)
    model, name = build_model(state["config"]["model"])
    model.load_state_dict(state["ema"] if state.get("ema") else state["model"])
    return model.to(device), name, state


def load_model(path: str | os.PathLike, *, which: str = "best", device: str | torch.device = "cpu"):
    """The trained model of a checkpoint (EMA weights when the run used EMA), in eval mode, and its
    run's config; see :func:`neuralmd.load`."""
    from omegaconf import OmegaConf

    model, _, state = model_from_checkpoint(path, device, which=which)
    return model.eval(), OmegaConf.create(state["config"])


def latest_run(root: str | os.PathLike = "runs") -> Path:
    """The most recently modified run folder under ``root`` that holds a checkpoint."""
    runs = sorted(Path(root).glob(f"*/{CHECKPOINT}"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise FileNotFoundError(2, "No run with a checkpoint to resume", str(Path(root) / "*" / CHECKPOINT))
    return runs[-1].parent
