"""Atomic checkpoints, random-number-generator state, and finding runs to resume.

A checkpoint is one ``torch.save`` dict (see :func:`save`). It is written to a temporary file in
the same folder, flushed to disk and renamed over the old one with ``os.replace``, which is
atomic on POSIX and Windows: a run killed at any moment leaves either the previous complete
checkpoint or the new complete one, never a truncated file.
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


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (write to a temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Leave no half-written temporary behind, whatever interrupted us (KeyboardInterrupt too).
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def rng_state() -> dict[str, Any]:
    """The state of every global generator a training step may draw from."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only when CUDA is present)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def checkpoint_path(path: str | os.PathLike) -> Path:
    """The checkpoint file named by ``path``: the file itself or ``<run folder>/checkpoint.pt``."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(2, "No such checkpoint", str(path))
    return path


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``neuralmd train`` (a file or its run folder)."""
    path = checkpoint_path(path)
    # weights_only=False: the checkpoint holds RNG states (numpy arrays, tuples), and it is a file
    # this tool wrote itself; never load checkpoints from sources you do not trust.
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{path} is not a neuralmd checkpoint (no model state or config)")
    return ckpt


def latest_run(root: str | os.PathLike = "runs") -> Path:
    """The most recently modified run folder under ``root`` that holds a checkpoint."""
    runs = sorted(Path(root).glob(f"*/{CHECKPOINT}"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise FileNotFoundError(2, "No run with a checkpoint to resume", str(Path(root) / "*" / CHECKPOINT))
    return runs[-1].parent
