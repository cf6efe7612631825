"""neuralmd: learn protein-ligand binding dynamics with SE(3)-equivariant neural differential equations.

The data path reads in one pass: record -> graph batch -> frames -> BindingNet -> dynamics ->
metrics/export, one subpackage per step (see ``docs/design.md``).
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load", "__version__"]


def load(path, *, which: str = "best", device="cpu"):
    """A model trained by ``neuralmd train`` and its config: ``model, config = neuralmd.load(path)``.

    Args:
        path: a run folder (its ``best.pt``, the epoch with the best validation score, or with
            ``which="last"`` its ``checkpoint.pt``) or a checkpoint file.
        which: "best" or "last" (run folders only).
        device: where to put the model.

    Returns:
        the dynamics model (an ``nn.Module`` in eval mode, EMA weights when the run used EMA) and
        the run's full config (``omegaconf.DictConfig``: ``config.model``, ``config.data``,
        ``config.trainer``, ...).

    Raises:
        FileNotFoundError: no checkpoint there. ValueError: the file is not a neuralmd checkpoint.

    Checkpoints are plain ``torch.save`` dicts: ``torch.load(path, weights_only=True)`` reads them
    too (keys ``model``, ``ema``, ``config``, ``epoch``, ``history``, ...).
    """
    from .cli._checkpoint import load_model
    return load_model(path, which=which, device=device)
