"""Prediction files (``.pt``) written by ``neuralmd train`` and ``simulate``, read by ``export``.

The format is a plain dict that ``torch.load(path, weights_only=True)`` reads, with no neuralmd
class inside::

    {"format": "neuralmd-prediction/1",
     "record": {"id": str, "dt_ps": float, "z": (N_l,), "pos": (N_l, T, 3) Å, "type": (N_r,),
                "backbone": (N_r, 3, 3) Å, "chain": (N_r,)},     # the input complex
     "traj": (T', N_l, 3) Å float tensor,                        # the predicted ligand positions
     "method": str, "start": int}                                # model name, start snapshot

``neuralmd.data.record_from_plain(saved["record"])`` (also in ``load_prediction``) turns the
record back into a ``HeteroData``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

FORMAT = "neuralmd-prediction/1"


def save_prediction(path: Path, record: Any, traj: torch.Tensor, method: str, start: int) -> Path:
    """Write one prediction in the format above; returns ``path``."""
    from neuralmd.data import record_to_plain
    torch.save({"format": FORMAT, "record": record_to_plain(record), "traj": traj.detach().cpu(),
                "method": str(method), "start": int(start)}, path)
    return path


def load_prediction(path: str | Path) -> dict[str, Any]:
    """A prediction file as a dict whose ``record`` is a ``HeteroData`` again."""
    from neuralmd.data import record_from_plain
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "prediction file not found", str(path))
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable or foreign file
        raise ValueError(f"{path} is not a readable neuralmd prediction file ({' '.join(str(err).split())[:120]}); "
                         "write one with neuralmd simulate or neuralmd train") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"{path} is not a neuralmd prediction file (no format {FORMAT!r})")
    return {**saved, "record": record_from_plain(saved["record"])}
