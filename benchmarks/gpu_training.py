"""Training throughput on a GPU (Adam steps on the Eq. 13 loss, paper-sized models), eager and with
the message passing compiled, for the same-card comparison of two versions (docs/results.md 2.6):

    python -m benchmarks.gpu_training --json OUT.json [--compile]

Only ``benchmarks.speed``'s ``complexes`` and ``training_table`` and ``benchmarks.methods``'s
``build`` are used, which the code before issue 14 (daa678a) has too, so this file copied into
that checkout's ``benchmarks/`` times it with the same steps on the same card
(``benchmarks/device_speed.sh --training``)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.methods import build
from benchmarks.speed import T4L, complexes, training_table

#: The learned models timed, where this version has them (the Langevin model is newer than daa678a).
TRAINED = ("NeuralMD ODE", "NeuralMD SDE", "NeuralMD Langevin")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, required=True, help="write the rows here")
    p.add_argument("--t4l", type=Path, default=T4L, help="the T4L benchmark file (generate_t4l.py)")
    p.add_argument("--batches", type=int, nargs="+", default=[8, 32], help="trajectories per step")
    p.add_argument("--steps", type=int, default=6, help="timed steps per row (after one warm-up step)")
    p.add_argument("--models", nargs="+", default=list(TRAINED), help="methods of benchmarks/methods.py")
    p.add_argument("--compile", nargs="*", default=[], metavar="MODEL",
                   help="also time these models with their message passing compiled (trainer.compile=default)")
    args = p.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    records = complexes(args.t4l)["T4L"]
    variants = [("eager", args.models)] + ([("compiled", args.compile)] if args.compile else [])
    meta = dict(device=str(device), hardware=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                torch=torch.__version__)
    rows = []
    for label, names in variants:
        compiled = label == "compiled"
        models = {}
        for name in names:
            try:
                models[name] = build(name).to(device)
            except (KeyError, ValueError):  # a model this version does not have
                continue
            if compiled:
                from neuralmd.layers import compile_message_passing

                compile_message_passing(models[name])
        for batch_size in args.batches:
            start = time.perf_counter()
            if compiled:  # dynamo compiles again for the second shape it meets (dynamic=True): not timed
                training_table(models, records, device, batch_size=batch_size, steps=1, window=5)
            for row in training_table(models, records, device, batch_size=batch_size, steps=args.steps, window=5):
                rows.append(dict(row, variant=label))
            print(f"  {label} batch {batch_size}: {time.perf_counter() - start:.0f} s with warm-ups", flush=True)
            args.json.write_text(json.dumps(dict(meta, rows=rows), indent=1))  # after each row group: a
            # run cut short by the device's time limit keeps what it measured


if __name__ == "__main__":
    main()
