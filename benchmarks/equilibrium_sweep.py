"""The validation sweep behind docs/results.md 3.2.1: Langevin NeuralMD with the equilibrium term.

Trains "SDE + all (Langevin)" (velocity map with ``--vmap``) on the first 80 % of one trajectory
(default T4L_02, the validation trajectory: never a test one) with the energy score plus
``--weight`` times denoising score matching of F / kT at noise ``--sigma`` Å (8 snapshots per step),
after ``--pretrain`` steps of that term alone, and prints the single task's metrics. It is the
prototype the benchmark's method "SDE + all + equilibrium score" was chosen with, kept as it ran so
that the sweep's numbers reproduce: one record per step (the benchmark batches four identical
copies), its own draws of the snapshots and noise (from the run's one generator, not per complex),
and kT not detached in the term (the library's ``NeuralMD.score_matching_loss`` detaches it; on
T4L_02 the benchmark's method scored 0.367 Å where this prototype's chosen setting scored 0.364).

    python -m benchmarks.equilibrium_sweep --vmap --weight 1 --sigma 0.2 --pretrain 600
"""
import argparse
import json
import time
from pathlib import Path

import h5py
import torch
from torch_geometric.data import Batch

from benchmarks import accuracy as acc
from benchmarks.methods import build
from neuralmd.data import read_misato
from neuralmd.dynamics._base import replicate

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--traj", default="T4L_02", help="trajectory of the single task (validation: T4L_02)")
p.add_argument("--data", default=str(Path(__file__).resolve().parent / "data" / "t4l.hdf5"))
p.add_argument("--weight", type=float, default=0.0, help="weight of the equilibrium term beside the energy score")
p.add_argument("--sigma", type=float, default=0.2, help="its noise, Å")
p.add_argument("--snaps", type=int, default=8, help="snapshots per step it draws")
p.add_argument("--pretrain", type=int, default=0, help="steps of the term alone first")
p.add_argument("--steps", type=int, default=150, help="steps of the energy score (+ the term)")
p.add_argument("--es-weight", type=float, default=1.0)
p.add_argument("--friction", type=float, default=0.5, help="initial friction, 1 / interval")
p.add_argument("--kt-scale", type=float, default=1.0, help="initial kT in units of the snapshots' apparent kT")
p.add_argument("--step", type=float, default=0.5, help="BAOAB step, intervals")
p.add_argument("--vmap", action="store_true", help="the learned initial-velocity map")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--tag", default="")
p.add_argument("--out", default=None, help="append the row to this JSON-lines file")
a = p.parse_args()
torch.set_num_threads(1)

with h5py.File(a.data) as f:
    rec = read_misato(f, a.traj)
seen = round(0.8 * rec["ligand"].pos.shape[1])
train_rec, start = acc.cut(rec, 0, seen), seen - 1


def dsm_loss(model, data, gen):
    """The prototype's term: ``a.snaps`` snapshots and their noise from ``gen``, kT not detached."""
    pos = data["ligand"].pos                                  # (N, T, 3)
    copies = replicate(data, a.snaps)
    idx = torch.randint(pos.shape[1], (a.snaps,), generator=gen)
    x = torch.cat([pos[:, int(i)] for i in idx])              # sample-major blocks
    eps = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    force = model.force_field(copies, x + a.sigma * eps, protein=model.force_field.encode_protein(copies))
    return (a.sigma * force / model.langevin.kT + eps).pow(2).mean()


torch.manual_seed(a.seed)
model = build("SDE + all (Langevin)", hidden=64, layers=3, velocity_mapping=a.vmap,
              kT=a.kt_scale * acc.apparent_kT([train_rec]), friction=a.friction, overrides={"step_size": a.step})
params = [q for q in model.parameters() if q.requires_grad]
opt = torch.optim.Adam(params, lr=1e-3)
gen = torch.Generator().manual_seed(a.seed)
t0 = time.process_time()
model.train()
for step in range(a.pretrain):                                # the equilibrium term alone
    opt.zero_grad()
    d = dsm_loss(model, Batch.from_data_list([train_rec]), gen)
    d.backward()
    torch.nn.utils.clip_grad_norm_(params, 10.0)
    opt.step()
    if step % 100 == 0:
        print("equilibrium step", step, float(d), flush=True)
for step in range(a.steps):                                   # energy score (+ the term)
    opt.zero_grad()
    loss = a.es_weight * model.loss(Batch.from_data_list([train_rec]), window=5, loss="energy", generator=gen,
                                    samples=4)
    d = torch.zeros(())
    if a.weight > 0:
        d = dsm_loss(model, Batch.from_data_list([train_rec]), gen)
        loss = loss + a.weight * d
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 10.0)
    opt.step()
    if step % 25 == 0:
        print(step, float(loss), float(d), float(model.langevin.kT), flush=True)
model.eval()
cpu = time.process_time() - t0
torch.manual_seed(a.seed)
res = acc.score(model, [rec], start, a.seed, 16)
row = dict(tag=a.tag, traj=a.traj, weight=a.weight, sigma=a.sigma, snaps=a.snaps, steps=a.steps, seed=a.seed,
           vmap=a.vmap, es_weight=a.es_weight, friction=a.friction, kt_scale=a.kt_scale, pretrain=a.pretrain,
           step=a.step, cpu=cpu, kT=float(model.langevin.kT),
           **{k: res[k] for k in ("mae", "energy_score", "rmsf_ratio", "decorrelation", "jsd_rmsd")})
print(json.dumps(row), flush=True)
if a.out:
    with open(a.out, "a") as f:
        f.write(json.dumps(row) + "\n")
