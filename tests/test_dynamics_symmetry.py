"""Every dynamics model on a tiny real BindingNet: SE(3)-equivariant, batch-independent rollouts.

Stochastic models (NeuralMD-SDE, DenoisingLD) are checked sample-path-wise: the generator is
re-seeded inside ``fn``, so the moved and the original record see the same random numbers.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from _dynamics_toys import ENSEMBLE_TIMES as TIMES
from _dynamics_toys import assert_ensemble_equivariant_and_batch_independent, make_record, seeded_ensemble
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import (GNNMD, DenoisingLD, LinearBaseline, MeanPoseBaseline, NeuralMD,
                               OrnsteinUhlenbeckBaseline, RandomWalkBaseline, StaticBaseline, StationaryBaseline,
                               VerletMD)
from neuralmd.layers import BindingNet
from neuralmd.testing import assert_batch_independent, assert_equivariant, assert_reflection_sensitive

def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    ff = BindingNet(hidden=16, num_layers=2)
    models = {
        "static": lambda: StaticBaseline(),
        "linear": lambda: LinearBaseline(),
        "meanpose": lambda: MeanPoseBaseline(),
        "stationary": lambda: StationaryBaseline(),
        "stationary-loose-centroid": lambda: StationaryBaseline(shape="anisotropic", centroid_confinement=0.3),
        "stationary-anisotropic": lambda: StationaryBaseline(shape="anisotropic"),
        "randomwalk": lambda: RandomWalkBaseline(),
        "ornsteinuhlenbeck": lambda: OrnsteinUhlenbeckBaseline(),
        "ornsteinuhlenbeck-anisotropic": lambda: OrnsteinUhlenbeckBaseline(shape="anisotropic"),
        "ode-rk4": lambda: NeuralMD(ff, method="rk4", step_size=0.5, velocity_mapping=True,
                                    velocity_refinement=0.01),
        "ode-dopri5": lambda: NeuralMD(ff, method="dopri5", atol=1e-5),
        "sde-euler": lambda: NeuralMD(ff, solver="sde", method="euler", step_size=0.5, noise_scale=1.0),
        "sde-srk": lambda: NeuralMD(ff, solver="sde", method="srk", step_size=1.0, noise_scale=1.0),
        "ode-friction": lambda: NeuralMD(ff, method="rk4", step_size=0.5, friction=0.4, coefficients="ligand"),
        "langevin-baoab": lambda: NeuralMD(ff, solver="sde", method="baoab", step_size=0.5, friction=0.5,
                                           noise="full", noise_scale=1.0, coefficients="ligand"),
        "langevin-euler-fdt": lambda: NeuralMD(ff, solver="sde", method="euler", step_size=0.5, friction=0.5,
                                               noise="fdt", kT=2.0),
        "langevin-history-prior": lambda: NeuralMD(ff, solver="sde", method="baoab", step_size=0.5, friction=0.5,
                                                   noise="fdt", kT=2.0, history_prior=True, velocity_mapping=True),
        "langevin-anisotropic-prior": lambda: NeuralMD(ff, solver="sde", method="baoab", step_size=0.5,
                                                       friction=0.5, noise="fdt", kT=2.0, history_prior=True,
                                                       prior_shape="anisotropic", gate_learned_force=True),
        "langevin-loose-centroid": lambda: NeuralMD(ff, solver="sde", method="baoab", step_size=0.5, friction=0.5,
                                                    noise="fdt", kT=2.0, history_prior=True, prior_shape="anisotropic",
                                                    centroid_confinement=0.3),
        "gnnmd": lambda: GNNMD(ff),
        "verlet": lambda: VerletMD(ff, step_size=0.5),
        "denoising": lambda: DenoisingLD(ff, steps=4),
    }
    return models[name]().double().eval()


def seeded_rollout(model):
    def fn(data):
        with torch.no_grad():
            return model.rollout(data, TIMES, generator=torch.Generator().manual_seed(7))
    return fn


NAMES = ["static", "linear", "meanpose", "stationary", "stationary-anisotropic", "stationary-loose-centroid", "randomwalk", "ornsteinuhlenbeck",
         "ornsteinuhlenbeck-anisotropic", "ode-rk4", "ode-dopri5", "sde-euler", "sde-srk", "ode-friction", "langevin-baoab", "langevin-euler-fdt", "langevin-history-prior",
         "langevin-anisotropic-prior", "langevin-loose-centroid", "gnnmd", "verlet", "denoising"]
#: Models whose ensembles are checked: every stochastic one, and a deterministic one (copies).
ENSEMBLE_NAMES = ["stationary", "stationary-anisotropic", "stationary-loose-centroid", "randomwalk", "ornsteinuhlenbeck",
                  "ornsteinuhlenbeck-anisotropic", "sde-euler", "langevin-baoab", "langevin-euler-fdt",
                  "langevin-history-prior", "langevin-anisotropic-prior", "langevin-loose-centroid", "denoising",
                  "ode-rk4"]


@pytest.mark.parametrize("name", NAMES)
def test_rollout_is_se3_equivariant(name):
    model = build(name)
    data = make_record(3, n_lig=7, n_res=12)
    fn = seeded_rollout(model)
    out = fn(data)
    assert out.shape == (len(TIMES), 7, 3) and torch.isfinite(out).all()
    assert_equivariant(fn, data, output="position", trials=2, rtol=1e-8,
                       generator=torch.Generator().manual_seed(1))


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), n_lig=st.integers(3, 9), start=st.integers(0, 3),
       name=st.sampled_from(["ode-rk4", "sde-euler", "langevin-baoab", "denoising"]))
def test_rollout_equivariant_on_random_records(seed, n_lig, start, name):
    model = build(name)
    data = make_record(seed, n_lig=n_lig, n_res=8 + n_lig)

    def fn(d):
        with torch.no_grad():
            return model.rollout(d, [start, start + 1, start + 3], generator=torch.Generator().manual_seed(seed))

    assert_equivariant(fn, data, output="position", trials=1, rtol=1e-8,
                       generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", NAMES)
def test_rollout_is_batch_independent(name):
    model = build(name)
    records = [make_record(i, n_lig=4 + i, n_res=9 + i) for i in range(3)]
    # dopri5 picks one adaptive step sequence for the whole batch: equal only up to its tolerance.
    atol = 1e-4 if name == "ode-dopri5" else 1e-10
    assert_batch_independent(seeded_rollout(model), records, atom_dim=-2, atol=atol)


@pytest.mark.parametrize("name", ["ode-rk4", "sde-euler", "langevin-baoab", "langevin-euler-fdt",
                                  "langevin-history-prior", "langevin-loose-centroid"])
def test_neuralmd_rollout_sees_chirality(name):
    model = build(name)
    assert_reflection_sensitive(seeded_rollout(model), make_record(3, n_lig=7, n_res=12),
                                output="position", min_relative_difference=1e-6)


@pytest.mark.parametrize("name", ["sde-euler", "langevin-baoab", "langevin-euler-fdt"])
def test_stochastic_models_actually_move_off_the_deterministic_path(name):
    # Guards the two tests above against a silently vanishing noise term.
    data = make_record(3, n_lig=7, n_res=12)
    sde = build(name)
    a = seeded_rollout(sde)(data)
    with torch.no_grad():
        b = sde.rollout(data, TIMES, generator=torch.Generator().manual_seed(8))
    assert (a[1:] - b[1:]).abs().max() > 1e-3


@pytest.mark.parametrize("name", ENSEMBLE_NAMES)
def test_ensemble_is_se3_equivariant_and_batch_independent(name):
    assert_ensemble_equivariant_and_batch_independent(
        seeded_ensemble(build(name)), lambda seed, n_lig, n_res: make_record(seed, n_lig=n_lig, n_res=n_res))


@pytest.mark.parametrize("name", ["stationary", "stationary-anisotropic", "stationary-loose-centroid", "randomwalk",
                                  "ornsteinuhlenbeck", "ornsteinuhlenbeck-anisotropic"])
def test_stochastic_baselines_see_chirality_through_their_noise_frames(name):
    assert_reflection_sensitive(seeded_rollout(build(name)), make_record(3, n_lig=7, n_res=12),
                                output="position", min_relative_difference=1e-6)
