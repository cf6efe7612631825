"""dynamics/_base.py: the shared interface pieces (ensemble replication, times, losses)."""
from __future__ import annotations

import pytest
import torch
from _dynamics_toys import make_batch, make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd import metrics
from neuralmd.dynamics import DynamicsModel, StaticBaseline
from neuralmd.dynamics._base import as_times, energy_score_loss, replicate, trajectory_loss
from neuralmd.dynamics._noise import ENSEMBLE_KEY, complex_ids


def test_replicate_is_sample_major_and_tags_every_copy():
    data = make_batch([make_record(0, n_lig=3, name="a"), make_record(1, n_lig=4, name="b")])
    copies = replicate(data, 3)
    assert copies.num_graphs == 6 and copies.id == ["a", "b"] * 3
    assert getattr(copies, ENSEMBLE_KEY).tolist() == [0, 0, 1, 1, 2, 2]
    assert complex_ids(copies, 6) == ["a@0", "b@0", "a@1", "b@1", "a@2", "b@2"]
    torch.testing.assert_close(copies["ligand"].pos, data["ligand"].pos.repeat(3, 1, 1), rtol=0, atol=0)


@pytest.mark.parametrize("times, integer, match", [([[1, 2]], False, "1-D"), ([], False, "at least the start"),
                                                   ([2, 1], False, "strictly increasing"),
                                                   ([9], False, r"\[0, 8\)"), ([1, 1.5], True, "integers")])
def test_bad_times_are_refused(times, integer, match):
    with pytest.raises(ValueError, match=match):
        as_times(times, 8, integer)


def test_times_are_float64_and_fractional_when_allowed():
    t = as_times([1, 1.5, 3], 8, False)
    assert t.dtype == torch.float64 and t.tolist() == [1, 1.5, 3]


def test_energy_score_loss_is_the_metric_and_one_sample_is_the_mean_l2():
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(5, 4, 6, 3, generator=g, dtype=torch.float64)
    target = torch.randn(4, 6, 3, generator=g, dtype=torch.float64)
    assert float(energy_score_loss(samples, target)) == pytest.approx(metrics.energy_score(samples, target), rel=1e-12)
    assert float(energy_score_loss(samples[:1], target)) == pytest.approx(metrics.mean_l2(samples[0], target),
                                                                          rel=1e-12)
    assert float(trajectory_loss(samples[0], target, "mse")) == pytest.approx(float((samples[0] - target).pow(2).mean()))


def test_a_model_needs_only_predict():
    class Drift(DynamicsModel):
        def predict(self, data, x0, v0, times, generator=None):
            return x0 + times.view(-1, 1, 1)

    data = make_record(0)
    out = Drift().rollout(data, [2, 3, 5])
    torch.testing.assert_close(out[2] - out[0], torch.full_like(out[0], 3.0))
    assert Drift().rollout(data, [2, 3], samples=2).shape == (2, 2, 6, 3)
    assert StaticBaseline().loss(data, window=2) >= 0


def test_a_no_grad_rollout_runs_in_inference_mode_and_returns_an_ordinary_tensor(monkeypatch):
    """Without gradients a rollout runs in inference mode (no autograd bookkeeping); it gives what
    the same no-grad rollout gives outside inference mode, bit for bit, and its output is an
    ordinary tensor a caller may modify in place and use under autograd. VerletMD, whose forces are
    gradients, stays out of it."""
    from neuralmd.dynamics import NeuralMD, VerletMD
    from neuralmd.layers import BindingNet

    data = make_batch([make_record(0, n_lig=4, name="a"), make_record(1, n_lig=5, name="b")])
    torch.manual_seed(0)
    model = NeuralMD(BindingNet(hidden=8, num_layers=1).double(), solver="sde", method="baoab", friction=0.5,
                     noise="fdt", coefficients="ligand", velocity_mapping=True)
    seen = []
    predict = type(model).predict
    monkeypatch.setattr(type(model), "predict",
                        lambda self, *a, **k: seen.append(torch.is_inference_mode_enabled()) or predict(self, *a, **k))

    def rollout():
        with torch.no_grad():
            return model.rollout(data, [2, 3, 4], generator=torch.Generator().manual_seed(5), samples=2)

    fast = rollout()
    model.rollout_in_inference_mode = False
    plain = rollout()
    assert seen == [True, False]
    assert not fast.is_inference() and not fast.requires_grad
    torch.testing.assert_close(fast, plain, rtol=0, atol=0)
    fast.add_(1.0)  # an inference tensor would refuse this outside inference mode
    (fast * torch.ones_like(fast, requires_grad=True)).sum().backward()

    verlet = VerletMD(BindingNet(hidden=8, num_layers=1).double())
    with torch.no_grad():
        assert torch.isfinite(verlet.rollout(data, [2, 3])).all()


def test_the_toy_force_field_gives_each_complex_of_a_batch_what_it_gives_alone():
    # the stand-in of many dynamics tests: its residues carry no PyG batch vector, so it must find
    # their complexes as the package does (every residue once counted as complex 0's)
    from _dynamics_toys import ToyForceField, make_batch, make_record

    records = [make_record(0), make_record(1, n_lig=5, n_res=7)]
    field = ToyForceField().double()
    with torch.no_grad():
        batched = field(make_batch(records), make_batch(records)["ligand"].pos[:, 2])
        alone = torch.cat([field(r, r["ligand"].pos[:, 2]) for r in records])
    torch.testing.assert_close(batched, alone, rtol=0, atol=1e-12)
