"""``neuralmd train``: the training loop, checkpoints, resume, then the run's report.

Reproducibility contract: a run killed at any point and continued with ``resume=true`` ends with
the same weights as an uninterrupted run with the same seed. Three things make that hold:

* the data order of epoch e is a pure function of ``(seed, e)`` (``DistributedSampler``), and a
  resumed epoch skips the batches its checkpoint had already done;
* every complex's random training window comes from its own generator seeded by
  ``(seed, epoch, dataset index)``, and the model's noise from one seeded by ``(seed, epoch,
  step)``: no global RNG is drawn, so nothing depends on history, batch composition or ranks;
* checkpoints hold model, optimiser, EMA, counters and all global RNG states, and are atomic.

The second point also gives DDP equivalence: a complex's loss terms are the same on whichever rank
it lands, and the step's gradient is the mean over the global batch (see ``_distributed``).
"""
from __future__ import annotations

import copy
import csv
import time
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
from ._build import Task, build_model, build_task, has_parameters, resolve_device
from ._windows import window_loss


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
        if tcfg.loss not in ("mae", "mse", "energy"):
            raise UsageError(f"trainer.loss must be mae, mse or energy, got {tcfg.loss!r}")
        self.samples = _energy_samples(tcfg) if tcfg.loss == "energy" else None
        if tcfg.ema is not None and not 0.0 < float(tcfg.ema) < 1.0:
            raise UsageError(f"trainer.ema must be a decay in (0, 1) or null, got {tcfg.ema}")
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if tcfg.ema else None
        self.wrapped = ddp.wrap(ddp.LossModule(model, window_loss), ctx)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.history: list[dict[str, float]] = []
        self.running: list[float] = []   # losses of the current epoch's steps so far

    # -- state ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "ema": self.ema, "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                "global_step": self.global_step, "history": self.history, "running": self.running,
                "rng": ckpt_io.rng_state(), **self.meta}

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema = state["ema"]
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.history = state["global_step"], list(state["history"])
        self.running = list(state["running"])
        ckpt_io.set_rng_state(state["rng"])

    def save(self) -> None:
        if self.ctx.main:
            ckpt_io.atomic_save(self.state(), self.run_dir / ckpt_io.CHECKPOINT)
        ddp.barrier(self.ctx)

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

    def _step(self, indices: list[int]) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss, weight = self.wrapped(self.task.train, indices, self.seed, self.epoch, self.global_step,
                                    int(self.cfg.window), str(self.cfg.loss), self.ctx.device,
                                    bool(self.cfg.per_complex_loss), self.samples)
        # DDP averages gradients over ranks; rescaling each rank's mean by its share of the
        # global weight makes that average the mean over the whole global batch.
        total = ddp.all_sum(weight, self.ctx)
        loss = loss * (weight * self.ctx.world / total)
        # Every rank must stop together, or the others would wait forever in the all-reduce.
        if ddp.all_sum(0.0 if torch.isfinite(loss) else 1.0, self.ctx):
            raise ValueError(f"training diverged: non-finite loss at epoch {self.epoch + 1}, "
                             f"step {self.global_step + 1}; lower trainer.lr or set trainer.grad_clip")
        loss.backward()
        if self.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), float(self.cfg.grad_clip))
        self.optimizer.step()
        if self.ema is not None:
            decay = float(self.cfg.ema)
            with torch.no_grad():
                for k, v in self.model.state_dict().items():
                    if v.dtype.is_floating_point:
                        self.ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
                    else:
                        self.ema[k].copy_(v)
        return float(loss.detach())

    def validate(self) -> float | None:
        """Mean loss on the validation set with fixed windows (comparable across epochs)."""
        if not self.task.val or not self.ctx.main:
            return None
        with torch.no_grad():
            loss, _ = window_loss(self.eval_model(), self.task.val, range(len(self.task.val)), self.seed,
                                  -1, 0, int(self.cfg.window), str(self.cfg.loss), self.ctx.device, True,
                                  self.samples)
        return float(loss)

    def fit(self) -> None:
        epochs, every = int(self.cfg.epochs), int(self.cfg.checkpoint_every)
        while self.epoch < epochs:
            batches = self._batches(self.epoch)
            bar = tqdm(total=len(batches), initial=self.step_in_epoch, leave=True,
                       desc=f"epoch {self.epoch + 1}/{epochs}",
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
            record = {"epoch": self.epoch + 1, "train_loss": sum(running) / max(len(running), 1),
                      "seconds": time.perf_counter() - t0}
            val = self.validate()
            if val is not None:
                record["val_loss"] = val
            self.history.append(record)
            running.clear()
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            self.save()
            if self.ctx.main:
                _write_history(self.history, self.run_dir / "history.csv")


def _energy_samples(tcfg: DictConfig) -> int:
    """``trainer.samples`` for loss=energy: rollouts per window, an integer >= 2 (the energy score's
    spread term needs two samples; with one the noise would be trained towards zero)."""
    samples = tcfg.get("samples")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise UsageError(f"trainer.samples must be an integer >= 2 for trainer.loss=energy, got {samples!r}")
    return samples


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
        return ckpt_io.checkpoint_path(cfg.run_dir if cfg.run_dir else ckpt_io.latest_run())
    return ckpt_io.checkpoint_path(str(cfg.resume))


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


def _run_dir(cfg: DictConfig, ctx: ddp.Context) -> Path:
    """``run_dir`` or a fresh ``runs/<date>_<time>``; rank 0 decides so every rank agrees."""
    name = [str(cfg.run_dir) if cfg.run_dir else _fresh_run_name()]
    if ctx.distributed:
        torch.distributed.broadcast_object_list(name, src=0)
    path = Path(name[0])
    if ctx.main:
        path.mkdir(parents=True, exist_ok=True)
    return path


def run(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Train ``cfg.model`` on ``cfg.data`` with ``cfg.trainer``; then report (rank 0)."""
    source = _resume_source(cfg)
    state = None
    if source is not None:
        state = ckpt_io.load(source)
        # Recompose from the original run's overrides so group choices (model=gnnmd) carry over;
        # today's overrides (e.g. trainer.epochs=10) win because they come last.
        overrides = merge_overrides(state["overrides"], overrides)
        cfg = compose("train", [*overrides, f"run_dir={source.parent}", "resume=true"])
    _check_export_formats(cfg.export_formats)
    if cfg.trainer.loss == "energy":
        _energy_samples(cfg.trainer)      # before any data is built or folder written
    ctx = ddp.setup(resolve_device(str(cfg.trainer.device), cfg.trainer.get("threads")))
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
        run_dir = _run_dir(cfg, ctx)
        model.to(ctx.device)
        if ctx.main:
            (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
            print(f"neuralmd train: {name} on {task.name} ({task.kind}-trajectory: {len(task.train)} train, "
                  f"{len(task.val)} val, {len(task.test)} test); {ctx.world} process(es) on "
                  f"{ctx.device}; run folder {run_dir}")
        meta = {"config": OmegaConf.to_container(cfg, resolve=True), "overrides": list(overrides),
                "model_name": name, "task": {"kind": task.kind, "name": task.name, "start": task.start}}
        if has_parameters(model):
            trainer = Trainer(model, task, cfg.trainer, ctx, run_dir, meta)
            if state is not None:
                trainer.restore(state)
                if ctx.main:
                    print(f"neuralmd train: resuming {source} at epoch {trainer.epoch + 1}, "
                          f"step {trainer.step_in_epoch + 1}")
            trainer.fit()
            final = trainer.eval_model()
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
    finally:
        ddp.teardown(ctx)
