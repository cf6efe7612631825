"""DDP: 2 CPU processes (gloo) x half the batch train to the same weights as 1 process x full batch."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from neuralmd.cli import main
from neuralmd.cli._build import build_model
from neuralmd.cli._checkpoint import seed_everything
from neuralmd.cli import compose

from _cli_tiny import TINY

# 6 trajectories -> 4 train, 1 validation, 1 test; global batch 4: one optimiser step per epoch, 2 epochs.
ARGS = [*TINY, "data.num=6", "trainer.batch_size=4", "baselines=[]", "export_formats=[]"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, args: list[str]) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)   # two processes on two cores
    assert main(args) == 0


def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", *ARGS, f"run_dir={one}"]) == 0
    # fork: the children inherit the imported modules instead of importing torch and neuralmd again
    # (spawn costs ~15 s more on a loaded 2-core machine); no process group exists before the fork.
    mp.start_processes(_worker, args=(2, _free_port(), ["train", *ARGS, f"run_dir={two}"]), nprocs=2,
                       join=True, start_method="fork")

    w1 = torch.load(one / "checkpoint.pt", weights_only=False)["model"]
    w2 = torch.load(two / "checkpoint.pt", weights_only=False)["model"]
    seed_everything(0)
    init = build_model(compose("train", ARGS).model)[0].state_dict()
    moved = 0.0
    for k in w1:
        assert torch.allclose(w1[k], w2[k], rtol=1e-5, atol=1e-6), k
        moved = max(moved, float((w1[k].float() - init[k].float()).abs().max()))
    assert moved > 1e-4   # training did change the weights, so the comparison means something
    assert (two / "metrics.json").is_file()          # rank 0 reported
    assert not list(two.glob("*.tmp"))


def test_compiled_message_passing_under_ddp_matches_one_eager_process(tmp_path: Path, monkeypatch) -> None:
    """trainer.compile=default with two DDP processes: the compiled modules' gradients reach DDP's
    all-reduce like eager ones (dynamo's eager backend, set before the fork, keeps it fast)."""
    import functools

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", *ARGS, f"run_dir={one}"]) == 0
    mp.start_processes(_worker, args=(2, _free_port(), ["train", *ARGS, "trainer.compile=default", f"run_dir={two}"]),
                       nprocs=2, join=True, start_method="fork")
    w1 = torch.load(one / "checkpoint.pt", weights_only=False)["model"]
    w2 = torch.load(two / "checkpoint.pt", weights_only=False)["model"]
    for k in w1:
        assert torch.allclose(w1[k], w2[k], rtol=1e-5, atol=1e-6), k
