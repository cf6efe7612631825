"""cli/_windows.py: the trainer's loss options (one frozen record) and the loss of one step."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from omegaconf import OmegaConf
from _dynamics_toys import make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)
from test_dynamics_symmetry import build

from neuralmd.cli import UsageError
from neuralmd.cli._windows import LossOptions, seeded_generator, window_loss

CPU = torch.device("cpu")


def test_options_come_from_the_trainer_config_and_are_frozen():
    tcfg = OmegaConf.create({"seed": 3, "window": 2, "loss": "energy", "samples": 4})
    options = LossOptions.from_config(tcfg, CPU)
    assert options == LossOptions(seed=3, window=2, loss="energy", device=CPU, samples=4)
    assert options.model_options() == {"window": 2, "loss": "energy", "samples": 4}
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 4
    mae = LossOptions.from_config(OmegaConf.create({"seed": 3, "window": 2, "loss": "mae", "samples": 4}), CPU)
    assert mae.samples is None and mae.model_options() == {"window": 2, "loss": "mae"}


@pytest.mark.parametrize("loss, samples, match", [("huber", None, "trainer.loss must be one of mae, mse, energy"),
                                                  ("energy", 1, "trainer.samples must be an integer >= 2"),
                                                  ("energy", True, "trainer.samples must be an integer >= 2")])
def test_bad_options_are_usage_errors(loss, samples, match):
    with pytest.raises(UsageError, match=match):
        LossOptions(seed=0, window=2, loss=loss, device=CPU, samples=samples)


def test_seeded_generators_differ_by_every_part():
    draws = {float(torch.rand(1, generator=seeded_generator(*key))) for key in [(0, 0), (0, 1), (1, 0), (0, 0, 1)]}
    assert len(draws) == 4
    assert torch.equal(torch.rand(3, generator=seeded_generator(5, 2)), torch.rand(3, generator=seeded_generator(5, 2)))


@pytest.mark.parametrize("model", ["sde-euler", "denoising"])
def test_a_complexs_step_loss_does_not_depend_on_its_batch(model):
    net = build(model)            # a tiny BindingNet (the toy force field is not batch-local)
    records = [make_record(i, n_lig=4 + i, T=10 + 2 * i) for i in range(3)]     # different lengths batch too
    options = LossOptions(seed=1, window=3, loss="mae", device=CPU)
    alone = [window_loss(net, [r], epoch=2, options=options) for r in records]
    together, weight = window_loss(net, records[::-1], epoch=2, options=options)
    atoms = [w for _, w in alone]
    assert weight == sum(atoms)
    expected = sum(float(loss.detach()) * w for loss, w in alone) / sum(atoms)
    assert float(together.detach()) == pytest.approx(expected, rel=1e-12)
    # another epoch draws other windows and noise
    other = window_loss(net, records, epoch=3, options=options)[0]
    assert float(other.detach()) != pytest.approx(float(together.detach()), rel=1e-6)
