"""The interface every dynamics model shares: rollout, Eq. 13 loss over random windows, helpers.

Time inside every model is measured in snapshot intervals (t = 0, 1, 2, ...), positions in Å and
masses in amu; ``dt_ps`` of a record is never used by the models (it only matters when a user
converts predicted times back to picoseconds).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .._format import check_trajectory
from ..layers import shared_parameter_products
from ._noise import ENSEMBLE_KEY
from ._windows import initial_state, sample_windows


def replicate(data, samples: int):
    """A batch of ``samples`` copies of ``data`` (one record or a PyG ``Batch``), sample-major.

    Copy ``k`` of every complex carries ``ensemble_sample = k``, so stochastic models key its
    noise by (complex id, k): sample ``k`` of a complex is the same whatever else is in the batch
    and however many samples are drawn. Atoms come in ``samples`` blocks in the order of ``data``.
    """
    from torch_geometric.data import Batch

    records = data.to_data_list() if isinstance(data, Batch) else [data]
    copies = []
    for k in range(samples):
        for record in records:
            copy = record.clone()
            setattr(copy, ENSEMBLE_KEY, k)
            copies.append(copy)
    return Batch.from_data_list(copies)


def as_times(times: Tensor | Sequence[float], num_snapshots: int, integer: bool) -> Tensor:
    """Validate rollout times: 1-D, strictly increasing, ``times[0]`` an existing snapshot."""
    t = torch.as_tensor(times, dtype=torch.float64)
    if t.dim() > 1:
        raise ValueError(f"times must be 1-D (snapshot indices), got shape {tuple(t.shape)}")
    t = t.reshape(-1)
    if t.numel() == 0:
        raise ValueError("times must contain at least the start snapshot")
    if t.numel() > 1 and not (t[1:] > t[:-1]).all():
        raise ValueError(f"times must be strictly increasing, got {t.tolist()}")
    if t[0] != t[0].round() or not 0 <= t[0] < num_snapshots:
        raise ValueError(f"times[0] must be a snapshot index in [0, {num_snapshots}), got {t[0].item()}")
    if integer and not torch.equal(t, t.round()):
        raise ValueError(f"this model steps whole snapshots; times must be integers, got {t.tolist()}")
    return t


#: Training losses: Eq. 13 on one path ("mae", "mse"), the energy score of an ensemble,
#: denoising score matching of the equilibrium a Langevin model samples ("score", ``_score``), or
#: the negative log-likelihood of the next snapshot under a Langevin model's Gaussian one-step
#: transition ("transition", ``_transition``).
LOSSES = ("mae", "mse", "energy", "score", "transition")


def trajectory_loss(pred: Tensor, target: Tensor, kind: str = "mae") -> Tensor:
    """Eq. 13: mean over snapshots, atoms and coordinates of |pred - target| ("mae") or its square."""
    if kind == "mae":
        return (pred - target).abs().mean()
    if kind == "mse":
        return (pred - target).pow(2).mean()
    raise ValueError(f"loss must be 'mae' or 'mse', got {kind!r}")


def energy_score_loss(samples: Tensor, target: Tensor) -> Tensor:
    """Differentiable energy score (Å) of K sampled paths (K, T, N, 3) against a target (T, N, 3).

    Per atom and snapshot ``E||X - y|| - 1/2 E||X - X'||``, the second mean over the K (K - 1)
    ordered pairs of distinct samples (unbiased), then the mean over snapshots and atoms. A proper
    scoring rule: only samples with the data's distribution minimise it in expectation, so training
    on it cannot gain by shrinking the noise (as a one-path MAE does). Gradients flow into the
    samples (reparameterised noise); :func:`neuralmd.metrics.energy_score` is the detached,
    per-complex-averaged version for evaluation.
    """
    k = samples.shape[0]
    accuracy = (samples - target.unsqueeze(0)).norm(dim=-1).mean(0)            # (T, N)
    if k == 1:
        return accuracy.mean()
    first, second = torch.triu_indices(k, k, offset=1, device=samples.device)
    # Each unordered pair once: the mean over i < j equals the mean over the K (K - 1) ordered pairs.
    spread = (samples[first] - samples[second]).norm(dim=-1).mean(0)            # (T, N)
    return (accuracy - 0.5 * spread).mean()


class DynamicsModel(nn.Module):
    """Base class: ``rollout`` and ``loss`` on top of one method, :meth:`predict`.

    Subclasses implement ``predict(data, x0, v0, times, generator)`` integrating from a per-atom
    initial state over *relative* times (``times[0] == 0``), so that rollouts (one start for the
    whole batch) and training windows (one start per complex) share the same code.
    """

    #: True when ``predict`` can only step whole snapshots (autoregressive models).
    integer_times: bool = False
    #: True when repeated rollouts with different seeds differ (ensembles need real samples).
    stochastic: bool = False
    #: True when ``predict`` also takes ``start=`` (N,) and may read ``data``'s snapshots up to
    #: it (the baselines fitted to what a model may see); other models only get x0 and v0.
    observes_history: bool = False
    #: The protein is rigid: encode it once per ``rollout``/``loss`` call (True), or leave it to
    #: the force field at every evaluation (False: only to measure what the cache saves; set it on
    #: an instance, ``model.cache_protein = False``). Decided here, for every model.
    cache_protein: bool = True
    #: True when the model samples a learned equilibrium whose score it can fit to snapshots
    #: (:meth:`score_matching_loss`, ``loss="score"``); Langevin NeuralMD with ``noise="fdt"``.
    learns_equilibrium: bool = False
    #: A rollout called without gradients runs in ``torch.inference_mode`` (no autograd bookkeeping
    #: of the solver's and the networks' tensor operations: ~4 % of a Langevin rollout) and returns
    #: an ordinary tensor. False for models that differentiate inside a rollout (VerletMD's forces
    #: are energy gradients); off as well while a module replays CUDA graphs, which were not
    #: measured in inference mode.
    rollout_in_inference_mode: bool = True

    def protein_encoding(self, data):
        """The force field's encoding of ``data``'s rigid protein, computed once for a whole
        rollout, or None when :attr:`cache_protein` is off (a force field given ``protein=None``
        encodes it itself, as BindingNet does)."""
        return self.force_field.encode_protein(data) if self.cache_protein else None

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) positions at relative ``times`` (T,), starting from x0, v0 (N, 3) each."""
        raise NotImplementedError

    def score_matching_loss(self, data, generator: torch.Generator | None = None) -> Tensor:
        """Denoising score matching of the equilibrium the model samples (``_score``); only models
        with a learned equilibrium (Langevin NeuralMD with fluctuation-dissipation) have one."""
        raise ValueError(f"{type(self).__name__} learns no equilibrium score: loss='score' needs "
                         "NeuralMD with noise='fdt'")

    @property
    def has_gaussian_transition(self) -> bool:
        """Whether the model has a Gaussian one-step transition (``loss="transition"``)."""
        return False

    def transition_loss(self, data, generator: torch.Generator | None = None) -> Tensor:
        """Negative log-likelihood of the next snapshot under the model's one-step transition; only
        Langevin NeuralMD with full-rank noise has a Gaussian one (``_transition``)."""
        raise ValueError(f"{type(self).__name__} has no Gaussian one-step transition: loss='transition' needs "
                         "NeuralMD with solver='sde' and noise='full' or 'fdt'")

    def _predict(self, data, x0: Tensor, v0: Tensor, times: Tensor, generator: torch.Generator | None,
                 start: Tensor) -> Tensor:
        if self.observes_history:
            return self.predict(data, x0, v0, times, generator, start=start)
        return self.predict(data, x0, v0, times, generator)

    def rollout(self, data, times: Tensor | Sequence[float], generator: torch.Generator | None = None,
                *, samples: int | None = None) -> Tensor:
        """Predict ligand positions (T, N_l, 3) in Å at snapshot ``times`` from ``times[0]``.

        ``output[0]`` is the known pose at ``times[0]``; the initial velocity is
        ``x[times[0]] - x[times[0] - 1]`` (zero when ``times[0] == 0``). ``data`` is one record or
        a PyG ``Batch`` of records of equal length T; every complex starts at the same snapshot.

        With ``samples=K`` an ensemble (K, T, N_l, 3) is drawn instead: K rollouts of every complex
        in one batched call, sample k keyed by (seed, complex id, k) so that it is reproducible and
        independent of the batch. Deterministic models (``stochastic`` False) return K identical
        copies of their one rollout.
        """
        if (self.rollout_in_inference_mode and not torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
                and not any(getattr(module, "cuda_graphs", False) for module in self.modules())):
            with torch.inference_mode():
                out = self.rollout(data, times, generator, samples=samples)
            return out.clone()  # outside inference mode: an ordinary tensor
        pos = check_trajectory(data)
        t = as_times(times, pos.shape[1], self.integer_times).to(pos.device)
        start = torch.full((pos.shape[0],), int(t[0]), dtype=torch.long, device=pos.device)
        x0, v0 = initial_state(pos, start)
        rel = (t - t[0]).to(pos.dtype)
        if samples is None:
            return self._predict(data, x0, v0, rel, generator, start)
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        return self._predict_ensemble(data, x0, v0, rel, generator, start=start, samples=samples)

    def _predict_ensemble(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                          generator: torch.Generator | None, *, start: Tensor, samples: int) -> Tensor:
        """(K, T, N, 3): ``samples`` paths of every complex in one batched call (see rollout)."""
        if not self.stochastic:
            one = self._predict(data, x0, v0, times, generator, start)
            return one.unsqueeze(0).expand(samples, *one.shape).clone()
        copies = replicate(data, samples).to(x0.device)
        out = self._predict(copies, x0.repeat(samples, 1), v0.repeat(samples, 1), times, generator,
                            start.repeat(samples))
        return out.reshape(out.shape[0], samples, *x0.shape).transpose(0, 1)

    def loss(self, data, window: int = 5, loss: str = "mae", generator: torch.Generator | None = None,
             *, samples: int | None = None) -> Tensor:
        """Training loss over one random window of ``window`` future snapshots per complex.

        ``"mae"`` / ``"mse"`` (Eq. 13, Algorithm 1): the mean over predicted snapshots 1..W, atoms
        and coordinates of the absolute or squared position error in Å (Å^2) of one rollout.
        ``"energy"``: the energy score (Å, :func:`energy_score_loss`) of ``samples`` (K >= 2)
        rollouts of the window, drawn as an ensemble (keyed like ``rollout(..., samples=K)``) and
        backpropagated through the solver. ``"score"``: :meth:`score_matching_loss` on the
        snapshots of ``data`` (no window, no rollout). ``"transition"``: :meth:`transition_loss`,
        one step from a random start per complex (``window`` unused, no rollout). Returns a
        scalar tensor.
        """
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if loss == "energy":
            if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
                raise ValueError(f"loss='energy' needs samples, an integer >= 2 (rollouts per window), "
                                 f"got {samples!r}")
        elif samples is not None:
            raise ValueError(f"samples is only used by loss='energy', got samples={samples!r} with loss={loss!r}")
        if loss == "score":
            return self.score_matching_loss(data, generator)
        if loss == "transition":
            return self.transition_loss(data, generator)
        x0, v0, targets, w, start = sample_windows(data, window, generator)
        times = torch.arange(w + 1, dtype=x0.dtype, device=x0.device)
        # every force evaluation of the window's rollouts reuses one set of parameter products
        with shared_parameter_products():
            if loss == "energy":
                paths = self._predict_ensemble(data, x0, v0, times, generator, start=start, samples=samples)
                return energy_score_loss(paths[:, 1:], targets[1:])
            pred = self._predict(data, x0, v0, times, generator, start)
        return trajectory_loss(pred[1:], targets[1:], loss)
