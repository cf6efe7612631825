"""Shared settings of the CLI tests: a data set and a model small enough to train in seconds."""
from __future__ import annotations

#: Tiny synthetic task (5 trajectories of 8 snapshots -> 3 train, 1 validation, 1 test) and a 1-layer,
#: 8-channel NeuralMD ODE with one Euler step per snapshot.
TINY_DATA = ["data.num=5", "data.options.n_snapshots=8", "data.options.ligand_atoms=[6,8]",
             "data.options.residues=[6,10]"]
TINY_MODEL = ["model=neuralmd_ode", "model.force_field.hidden=8", "model.force_field.num_layers=1",
              "model.force_field.num_rbf=8", "model.method=euler", "model.step_size=1.0"]
TINY_TRAINER = ["trainer.window=2", "trainer.batch_size=2", "trainer.epochs=2", "trainer.progress=false",
                "trainer.eval_batch_size=4"]
TINY = [*TINY_DATA, *TINY_MODEL, *TINY_TRAINER, "export_formats=[.xyz]"]
