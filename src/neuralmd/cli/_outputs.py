"""All-or-nothing output files: a failed command leaves neither partial nor half-written files.

Every file is first written to a hidden temporary beside its target (same extension, so writers
that pick the format from it still work); only when all of them succeeded are they renamed onto
their targets. On any failure the temporaries are removed and existing files stay untouched.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from . import UsageError

#: Extensions the trajectory writers take, plus the prediction file.
PREDICTION_SUFFIX = ".pt"


def check_trajectory_outputs(paths: Sequence[Path], key: str, *, allow_prediction: bool = False) -> None:
    """Raise a :class:`UsageError` naming ``key`` for an output whose extension cannot be written."""
    from neuralmd.io import FORMATS
    allowed = [*FORMATS, *([PREDICTION_SUFFIX] if allow_prediction else [])]
    bad = [str(p) for p in paths if p.suffix.lower() not in allowed]
    if bad:
        raise UsageError(f"{key}: cannot write {', '.join(bad)}; use the extensions {', '.join(allowed)}")


def write_all(writers: dict[Path, Callable[[Path], object]]) -> list[Path]:
    """Call ``writer(temporary_path)`` for every target, then move all into place; returns targets."""
    done: dict[Path, Path] = {}
    try:
        for target, writer in writers.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")
            done[target] = tmp
            writer(tmp)
        for target, tmp in done.items():
            os.replace(tmp, target)
    except BaseException:
        for tmp in done.values():
            tmp.unlink(missing_ok=True)
        raise
    return list(writers)
