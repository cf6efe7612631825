"""``neuralmd train``: the training loop, checkpoints, resume, then the run's report.

Reproducibility contract: a run killed at any point and continued with ``resume=true`` ends with
the same weights as an uninterrupted run with the same seed. Three things make that hold:

* the data order of epoch e is a pure function of ``(seed, e)`` (``DistributedSampler``), and a
  resumed epoch skips the batches its checkpoint had already done;
* every complex's random training window and the model's noise come from the library's
  per-complex streams, seeded by ``(seed, epoch)`` and the complex's id (``_windows``): no global
  RNG is drawn, so nothing depends on history, batch composition, steps or ranks;
* checkpoints hold model, optimiser, EMA, counters, the schedule's and the model selection's
  state and all global RNG states, and are atomic.

The second point also gives DDP equivalence: a complex's loss terms are the same on whichever rank
it lands, and the step's gradient is the mean over the global batch (see ``_distributed``).

Equilibrium first: ``trainer.score_epochs`` epochs before the ``trainer.epochs`` ones train by
denoising score matching only (``loss="score"``, Langevin NeuralMD), at the initial learning rate,
and are neither validated nor selected; then ``trainer.epochs`` epochs train the dynamics with
``trainer.loss`` (the schedule, validation and selection count those).

Model selection: after every epoch rank 0 rolls the model out on the validation set over the test's
horizon and scores it with the test's metrics (``evaluate_methods``: MAE of the ensemble mean and
the energy score of ``trainer.val_samples`` rollouts); ``trainer.select_on`` picks the score that
keeps ``best.pt`` beside ``checkpoint.pt``, drives the ``plateau`` schedule and early stopping. The
report evaluates ``best.pt`` unless ``trainer.evaluate=last``.
"""
from __future__ import annotations

import copy
import csv
import math
import os
import shutil
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from . import UsageError, compose
from . import _checkpoint as ckpt_io
from . import _distributed as ddp
from ._build import Task, build_model, build_task, compile_model, has_parameters, resolve_device
from ._trainer_config import check_trainer_config
from ._windows import LossOptions, window_loss


class TrainingDiverged(ValueError):
    """Training produced non-finite parameters, losses or validation rollouts."""


class Trainer:
    """Optimiser, EMA and counters of one run; :meth:`fit` trains, checkpoints and resumes."""

    def __init__(self, model: nn.Module, task: Task, tcfg: DictConfig, ctx: ddp.Context,
                 run_dir: Path, meta: dict[str, Any]) -> None:
        self.model, self.task, self.cfg, self.ctx, self.run_dir, self.meta = model, task, tcfg, ctx, run_dir, meta
        self.seed = int(tcfg.seed)
        self.local_batch = ddp.local_batch_size(int(tcfg.batch_size), ctx)
        params = [p for p in model.parameters() if p.requires_grad]
        if tcfg.optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay)
        elif tcfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=tcfg.lr, momentum=tcfg.momentum,
                                             weight_decay=tcfg.weight_decay)
        else:
            raise UsageError(f"trainer.optimizer must be adam or sgd, got {tcfg.optimizer!r}")
        self.options = LossOptions.from_config(tcfg, ctx.device)
        if tcfg.ema is not None and not 0.0 < float(tcfg.ema) < 1.0:
            raise UsageError(f"trainer.ema must be a decay in (0, 1) or null, got {tcfg.ema}")
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if tcfg.ema else None
        self.wrapped = ddp.wrap(ddp.LossModule(model, window_loss), ctx)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.history: list[dict[str, float]] = []
        self.running: list[float] = []   # losses of the current epoch's steps so far
        # model selection, schedule and early stopping (saved in the checkpoint, for resume)
        self.selection: dict[str, Any] = {"best_score": None, "best_epoch": 0, "lr": float(tcfg.lr),
                                          "plateau_wait": 0, "stopped": False}

    # -- state ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "ema": self.ema, "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                "global_step": self.global_step, "history": self.history, "running": self.running,
                "selection": dict(self.selection), "rng": ckpt_io.rng_state(), **self.meta}

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema = state["ema"]
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.history = state["global_step"], list(state["history"])
        self.running = list(state["running"])
        self.selection.update(state.get("selection", {}))
        ckpt_io.set_rng_state(state["rng"])

    def save(self, *, best: bool = False) -> None:
        """Write ``checkpoint.pt`` (rank 0); ``best=True``: the same state as ``best.pt`` too."""
        if self.ctx.main:
            state = self.state()
            ckpt_io.atomic_save(state, self.run_dir / ckpt_io.CHECKPOINT)
            if best:
                ckpt_io.atomic_save(state, self.run_dir / ckpt_io.BEST)
        ddp.barrier(self.ctx)

    def best_model(self) -> tuple[nn.Module, str]:
        """The model the report evaluates and a phrase saying which: ``best.pt``'s weights
        (``trainer.evaluate=best``, when there is one) or the last epoch's."""
        best = self.run_dir / ckpt_io.BEST
        if self.cfg.evaluate == "last" or not best.is_file():
            return self.eval_model(), f"the last epoch ({self.epoch})"
        state = ckpt_io.load(best)
        model = copy.deepcopy(self.model)
        model.load_state_dict(state["ema"] if state.get("ema") else state["model"])
        return model, f"best.pt (epoch {state['epoch']} of {self.epoch}, by val_{self.cfg.select_on})"

    def eval_model(self) -> nn.Module:
        """The model to evaluate: a copy carrying the EMA weights when EMA is on."""
        if self.ema is None:
            return self.model
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.ema)
        return model

    # -- loop ----------------------------------------------------------------------------------
    def _batches(self, epoch: int) -> list[list[int]]:
        sampler = DistributedSampler(range(len(self.task.train)), num_replicas=self.ctx.world,
                                     rank=self.ctx.rank, shuffle=True, seed=self.seed)
        sampler.set_epoch(epoch)
        order = list(sampler)
        return [order[i:i + self.local_batch] for i in range(0, len(order), self.local_batch)]

    def _diverged(self, what: str) -> None:
        largest = max((float(p.detach().abs().max()) for p in self.model.parameters() if p.numel()), default=0.0)
        raise TrainingDiverged(
            f"training diverged at epoch {self.epoch + 1}, step {self.global_step + 1}: {what} (largest "
            f"|parameter| {largest:.3g}, learning rate {self.optimizer.param_groups[0]['lr']:g}); lower trainer.lr or set "
            "trainer.grad_clip, then start a new run")

    def _forward_loss(self, indices: list[int]) -> tuple[torch.Tensor, float]:
        """The batch loss; non-finite positions inside the model after a step mean divergence (the
        training records were checked when loaded), not bad input."""
        try:
            return self.wrapped([self.task.train[i] for i in indices], epoch=self.epoch, options=self._epoch_options())
        except ValueError as err:
            if self.global_step > 0 and ("NaN" in str(err) or "infinite" in str(err)):
                self._diverged(f"the model produced non-finite positions ({err})")
            raise

    @property
    def score_epochs(self) -> int:
        """Epochs of denoising score matching before the dynamics' ``trainer.epochs``."""
        return int(self.cfg.get("score_epochs") or 0)

    @property
    def fitting_equilibrium(self) -> bool:
        """True during the first :attr:`score_epochs` epochs (denoising score matching only)."""
        return self.epoch < self.score_epochs

    def _epoch_options(self) -> LossOptions:
        """This epoch's loss options: ``loss="score"`` while fitting the equilibrium."""
        return replace(self.options, loss="score", samples=None) if self.fitting_equilibrium else self.options

    def _step(self, indices: list[int]) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss, weight = self._forward_loss(indices)
        # DDP averages gradients over ranks; rescaling each rank's mean by its share of the
        # global weight makes that average the mean over the whole global batch.
        total = ddp.all_sum(weight, self.ctx)
        loss = loss * (weight * self.ctx.world / total)
        # Every rank must stop together, or the others would wait forever in the all-reduce.
        if ddp.all_sum(0.0 if torch.isfinite(loss) else 1.0, self.ctx):
            self._diverged("the loss is not finite")
        loss.backward()
        if self.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), float(self.cfg.grad_clip))
        self.optimizer.step()
        if ddp.all_sum(0.0 if all(torch.isfinite(p).all() for p in self.model.parameters()) else 1.0, self.ctx):
            self._diverged("a parameter became NaN or infinite")
        if self.ema is not None:
            decay = float(self.cfg.ema)
            with torch.no_grad():
                for k, v in self.model.state_dict().items():
                    if v.dtype.is_floating_point:
                        self.ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
                    else:
                        self.ema[k].copy_(v)
        return float(loss.detach())

    def validate(self) -> dict[str, float]:
        """Validation rollout scores of the model to evaluate, ``{"val_mae", "val_energy_score"}``
        (empty without a validation set); computed on rank 0 and shared with every rank."""
        from ._evaluate import evaluate_methods
        scores: dict[str, float] = {}
        if self.task.val and self.ctx.main:
            held_out = replace(self.task, test=self.task.val, start=self.task.val_start)
            (result,) = evaluate_methods({"model": self.eval_model()}, held_out, int(self.cfg.eval_batch_size),
                                         self.ctx.device, self.seed, samples=int(self.cfg.val_samples))
            scores = {f"val_{k}": float(result.overall[k]) for k in ("mae", "energy_score")}
            self.model.train()
        scores = ddp.broadcast(scores, self.ctx)
        if any(not math.isfinite(v) for v in scores.values()):
            self._diverged(f"the validation rollout is not finite ({scores})")
        return scores

    def _select(self, scores: dict[str, float]) -> bool:
        """Update best score, plateau schedule and early stopping after an epoch; True when this
        epoch's model is the best so far (always, without a validation set: the last is kept)."""
        sel, key = self.selection, f"val_{self.cfg.select_on}"
        if key not in scores:
            sel["best_epoch"] = self.epoch
            return True
        score = scores[key]
        improved = sel["best_score"] is None or score < sel["best_score"]
        if improved:
            sel["best_score"], sel["best_epoch"], sel["plateau_wait"] = score, self.epoch, 0
        else:
            sel["plateau_wait"] += 1
            if self.cfg.schedule == "plateau" and sel["plateau_wait"] >= int(self.cfg.patience):
                sel["lr"], sel["plateau_wait"] = max(sel["lr"] * float(self.cfg.lr_factor), float(self.cfg.min_lr)), 0
        stop = self.cfg.early_stopping
        if stop is not None and self.epoch - sel["best_epoch"] >= int(stop):
            sel["stopped"] = True
        return improved

    def _learning_rate(self, epochs: int) -> float:
        """This epoch's learning rate: cosine from ``lr`` to ``min_lr`` over the run, the plateau
        schedule's current value, or constant."""
        if self.cfg.schedule == "cosine":
            low, high = float(self.cfg.min_lr), float(self.cfg.lr)
            done = max(self.epoch - self.score_epochs, 0)          # the equilibrium epochs run at lr
            return low + (high - low) * 0.5 * (1 + math.cos(math.pi * done / epochs))
        return self.selection["lr"] if self.cfg.schedule == "plateau" else float(self.cfg.lr)

    def fit(self) -> None:
        epochs, every = int(self.cfg.epochs), int(self.cfg.checkpoint_every)
        total = self.score_epochs + epochs
        while self.epoch < total and not self.selection["stopped"]:
            lr = self._learning_rate(epochs)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            batches = self._batches(self.epoch)
            bar = tqdm(total=len(batches), initial=self.step_in_epoch, leave=True,
                       desc=f"epoch {self.epoch + 1}/{total}" + (" (equilibrium)" if self.fitting_equilibrium else ""),
                       disable=not (self.ctx.main and self.cfg.progress))
            running = self.running
            t0 = time.perf_counter()
            for indices in batches[self.step_in_epoch:]:
                running.append(ddp.all_mean(self._step(indices), self.ctx))
                self.step_in_epoch += 1
                self.global_step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{running[-1]:.4f}")
                if every and self.global_step % every == 0 and self.step_in_epoch < len(batches):
                    self.save()
            bar.close()
            record = {"epoch": self.epoch + 1, "train_loss": sum(running) / max(len(running), 1)}
            equilibrium = self.fitting_equilibrium
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            # The dynamics are not trained yet while fitting the equilibrium: nothing to select.
            scores = {} if equilibrium else self.validate()
            record.update(scores, lr=lr, seconds=time.perf_counter() - t0)
            best = False if equilibrium else self._select(scores)
            self.history.append(record)
            running.clear()
            self.save(best=best)
            if self.ctx.main:
                _write_history(self.history, self.run_dir / "history.csv")
                if self.selection["stopped"]:
                    print(f"neuralmd train: early stopping after epoch {self.epoch}: no better "
                          f"val_{self.cfg.select_on} for {self.cfg.early_stopping} epochs "
                          f"(best: epoch {self.selection['best_epoch']})")


def _check_equilibrium_fit(cfg: DictConfig, model: nn.Module, name: str) -> None:
    """``trainer.score_epochs`` and ``trainer.loss=score`` need a model with a learned equilibrium
    (``learns_equilibrium``, the model's own word on it), ``trainer.loss=transition`` one with a
    Gaussian one-step transition (``has_gaussian_transition``)."""
    wants = int(cfg.trainer.get("score_epochs") or 0) > 0 or str(cfg.trainer.loss) == "score"
    if wants and not getattr(model, "learns_equilibrium", False):
        raise UsageError(f"trainer.score_epochs and trainer.loss=score fit the equilibrium of Langevin "
                         f"NeuralMD (model.noise=fdt); {name} has none: set trainer.score_epochs=0")
    if str(cfg.trainer.loss) == "transition" and not getattr(model, "has_gaussian_transition", False):
        raise UsageError(f"trainer.loss=transition needs a Gaussian one-step transition (Langevin NeuralMD: "
                         f"model.solver=sde, model.noise=full or fdt, no velocity refinement); {name} has none")


def _resolve_training_loss(cfg: DictConfig) -> None:
    """``trainer.loss: null`` means the loss the model config names (``training_loss``: energy for
    the Langevin model, whose noise must learn the data's spread), else Eq. 13's mae; likewise
    ``trainer.score_epochs: null`` the model config's ``score_epochs``, else 0. Resolved before the
    config is saved, so ``config.yaml`` says what was used."""
    if cfg.trainer.get("loss") is None:
        cfg.trainer.loss = str(cfg.model.get("training_loss") or "mae")
    if cfg.trainer.get("score_epochs") is None:
        cfg.trainer.score_epochs = int(cfg.model.get("score_epochs") or 0)


def _write_history(history: list[dict[str, float]], path: Path) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


# ---------------------------------------------------------------------------------------------
# the command


def merge_overrides(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """``old`` then ``new`` overrides, one per key (the new one wins), without resume/run_dir."""
    merged: dict[str, str] = {}
    for o in [*old, *new]:
        key = o.split("=", 1)[0].lstrip("+~")
        if key not in ("resume", "run_dir"):
            merged.pop(key, None)
            merged[key] = o
    return list(merged.values())


def _resume_source(cfg: DictConfig) -> Path | None:
    """The checkpoint to continue from, or None for a fresh run."""
    if cfg.resume in (False, None):
        return None
    if cfg.resume is True:
        return ckpt_io.checkpoint_path(cfg.run_dir if cfg.run_dir else ckpt_io.latest_run(), which="last")
    return ckpt_io.checkpoint_path(str(cfg.resume), which="last")


def _fresh_run_name(root: str = "runs") -> str:
    """``runs/<date>_<time>``, with ``-2``, ``-3`` ... when runs start within the same second."""
    base = f"{root}/{datetime.now():%Y-%m-%d_%H-%M-%S}"
    name, k = base, 2
    while Path(name).exists():
        name, k = f"{base}-{k}", k + 1
    return name


def _check_export_formats(formats: Sequence[str]) -> None:
    """Fail before training, not after it, on an extension ASE export cannot write."""
    from neuralmd.io import FORMATS
    bad = [f for f in formats if (f if str(f).startswith(".") else f".{f}") not in FORMATS]
    if bad:
        raise UsageError(f"export_formats {bad} not supported; use any of {', '.join(FORMATS)}")


def _run_dir(cfg: DictConfig, ctx: ddp.Context, *, resuming: bool) -> tuple[Path, bool]:
    """``run_dir`` or a fresh ``runs/<date>_<time>`` (rank 0 decides so every rank agrees), and
    whether this call created it. A fresh run never writes into a folder that holds a run."""
    name = [str(cfg.run_dir) if cfg.run_dir else _fresh_run_name()]
    if ctx.distributed:
        torch.distributed.broadcast_object_list(name, src=0)
    path = Path(name[0])
    created = not path.exists()
    if not ctx.main:
        return path, created
    if not resuming and (path / ckpt_io.CHECKPOINT).exists():
        raise UsageError(f"run_dir {path} already holds a run; continue it with resume=true or pass "
                         "another run_dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create run_dir {path}: {err.strerror}; pass a run_dir you can write to") from err
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write into run_dir {path} (not a writable folder); pass a run_dir you can "
                         "write to")
    ckpt_io.remove_stale_temporaries(path)
    return path, created


def _check_same_model(cfg: DictConfig, state: dict[str, Any], source: Path) -> None:
    """A resumed run must rebuild the model its checkpoint holds."""
    now, then = OmegaConf.to_container(cfg.model, resolve=True), state["config"]["model"]
    if now != then:
        changed = sorted(k for k in set(now) | set(then) if now.get(k) != then.get(k))
        raise UsageError(f"resume cannot change the model: {source} holds {state.get('model_name', 'a model')} "
                         f"and the overrides change model {', '.join(changed)}; drop those overrides, or "
                         "train the new model in a new run_dir")


def _compile_for_training(model: torch.nn.Module, name: str, mode: str, device: torch.device) -> None:
    """``trainer.compile``: the message passing of the model's BindingNet modules compiled, except
    where training differentiates forces that are themselves a gradient (VerletMD's -dE/dx), a
    second derivative that torch.compile's graphs do not have."""
    from neuralmd.dynamics import VerletMD

    if isinstance(model, VerletMD):
        raise UsageError(f"trainer.compile={mode}: {name} trains through the gradient of its energy (a second "
                         "derivative), which torch.compile cannot differentiate; train it with trainer.compile=null")
    compile_model(model, name, mode, device, key="trainer.compile")  # mode: checked with the trainer settings


def run(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Train ``cfg.model`` on ``cfg.data`` with ``cfg.trainer``; then report (rank 0).

    Every setting, the data and (when resuming) the checkpoint are checked before anything is
    written; a fresh run whose folder this call created leaves no folder behind when it fails
    (an interrupted one keeps it once a checkpoint exists, to be resumed).
    """
    source = _resume_source(cfg)
    state = None
    if source is not None:
        state = ckpt_io.load(source)
        # Recompose from the original run's overrides so group choices (model=gnnmd) carry over;
        # today's overrides (e.g. trainer.epochs=10) win because they come last.
        today = list(overrides)
        overrides = merge_overrides(state["overrides"], overrides)
        try:
            cfg = compose("train", [*overrides, f"run_dir={source.parent}", "resume=true"])
        except UsageError:
            touched = [o for o in today if o.lstrip("+~").split("=", 1)[0].split(".")[0] == "model"]
            if touched:   # e.g. model=gnnmd next to the run's own model.method=euler
                raise UsageError(f"resume cannot change the model: {source} holds "
                                 f"{state.get('model_name', 'a model')} and {' '.join(touched)} changes it; drop "
                                 "those overrides, or train the new model in a new run_dir") from None
            raise
        _check_same_model(cfg, state, source)
    _resolve_training_loss(cfg)
    check_trainer_config(cfg.trainer)
    _check_export_formats(cfg.export_formats)
    LossOptions.from_config(cfg.trainer, torch.device("cpu"))   # loss and samples checked before any data or folder
    ctx = ddp.setup(resolve_device(str(cfg.trainer.device), cfg.trainer.get("threads")))
    run_dir, created = None, False
    try:
        ckpt_io.seed_everything(int(cfg.trainer.seed))
        # Data and model first: a bad path or setting fails before a run folder is created.
        # Rank 0 first: it fills the processed-data cache (MISATO) that the other ranks then read,
        # instead of all ranks writing the same cache files at once.
        if not ctx.main:
            ddp.barrier(ctx)
        task = build_task(cfg.data, window=int(cfg.trainer.window))
        if ctx.main:
            ddp.barrier(ctx)
        model, name = build_model(cfg.model)
        _check_equilibrium_fit(cfg, model, name)
        model.to(ctx.device)
        if cfg.trainer.get("compile") is not None:  # lazy: compiles at the first training step
            _compile_for_training(model, name, str(cfg.trainer.compile), ctx.device)
        meta = {"config": OmegaConf.to_container(cfg, resolve=True), "overrides": list(overrides),
                "model_name": name, "task": {"kind": task.kind, "name": task.name, "start": task.start}}
        folder = Path(str(cfg.run_dir)) if cfg.run_dir else None
        trainer = Trainer(model, task, cfg.trainer, ctx, folder, meta) if has_parameters(model) else None
        if trainer is not None and state is not None:
            try:
                trainer.restore(state)
            except (RuntimeError, KeyError, ValueError) as err:
                raise UsageError(f"cannot resume from {source}: its state does not fit this model and trainer "
                                 f"({' '.join(str(err).split())[:200]}); start a new run_dir") from err
        run_dir, created = _run_dir(cfg, ctx, resuming=state is not None)
        if trainer is not None:
            trainer.run_dir = run_dir
        if ctx.main:
            ckpt_io.atomic_write_text(OmegaConf.to_yaml(cfg), run_dir / "config.yaml")
            val = (f"{len(task.val)} val, rollouts from snapshot {task.val_start} select on "
                   f"val_{cfg.trainer.select_on}" if task.val else "0 val: the last epoch is kept")
            print(f"neuralmd train: {name} on {task.name} ({task.kind}-trajectory: {len(task.train)} train, "
                  f"{val}, {len(task.test)} test); {ctx.world} process(es) on {ctx.device}; run folder {run_dir}")
        if trainer is not None:
            if state is not None and ctx.main:
                print(f"neuralmd train: resuming {source} at epoch {trainer.epoch + 1}, "
                      f"step {trainer.step_in_epoch + 1}")
            trainer.fit()
            final, which = trainer.best_model()
            if ctx.main:
                print(f"neuralmd train: evaluating {which}")
        else:
            # Parameter-free baseline: nothing to fit; keep a checkpoint so evaluate/simulate
            # treat it like any trained model.
            if ctx.main:
                ckpt_io.atomic_save({"model": model.state_dict(), "ema": None, "epoch": 0, **meta},
                                    run_dir / ckpt_io.CHECKPOINT)
            final = model
        if ctx.main:
            from ._report import report_run
            report_run(cfg, task, final, name, run_dir, ctx.device)
        ddp.barrier(ctx)
    except BaseException as err:
        resumable = isinstance(err, KeyboardInterrupt) and run_dir is not None and (run_dir / ckpt_io.CHECKPOINT).exists()
        if created and ctx.main and run_dir is not None and not resumable:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        ddp.teardown(ctx)
