"""Dynamics models: NeuralMD ODE/SDE (paper section 4.3) and the baselines of section 2.3.

Every model shares one interface (``rollout(data, times) -> (T, N_l, 3)``, an ensemble with
``rollout(data, times, samples=K) -> (K, T, N_l, 3)``, and
``loss(data, window=..., loss="mae"|"mse", generator=None)``); time is in snapshot intervals.
See ``docs/dynamics.md``.
"""
from ._base import DynamicsModel
from ._baselines import (LinearBaseline, MeanPoseBaseline, OrnsteinUhlenbeckBaseline, RandomWalkBaseline,
                         StaticBaseline, StationaryBaseline)
from ._denoising import DenoisingLD
from ._gnnmd import GNNMD
from ._neuralmd import NeuralMD
from ._second_order import SecondOrderDynamics
from ._verlet import VerletMD

__all__ = [
    "DynamicsModel",
    "SecondOrderDynamics",
    "NeuralMD",
    "VerletMD",
    "GNNMD",
    "DenoisingLD",
    "StaticBaseline",
    "LinearBaseline",
    "MeanPoseBaseline",
    "StationaryBaseline",
    "RandomWalkBaseline",
    "OrnsteinUhlenbeckBaseline",
]
