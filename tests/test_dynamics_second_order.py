"""dynamics/_second_order.py: Eq. 14 with friction, the initial-velocity map, the ligand factory."""
from __future__ import annotations

import torch
from _dynamics_toys import ToyForceField, make_record, toy_factory
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import SecondOrderDynamics
from neuralmd.dynamics._second_order import map_initial_velocity


def test_friction_adds_minus_gamma_v_and_evaluations_are_counted():
    ff = ToyForceField().double()
    data = make_record(0)
    x, v = data["ligand"].pos[:, 1], torch.randn(6, 3, dtype=torch.float64)
    free = SecondOrderDynamics(ff, data, ff.encode_protein(data), data["ligand"].mass)
    damped = SecondOrderDynamics(ff, data, ff.encode_protein(data), data["ligand"].mass,
                                 friction=lambda pos: torch.full((pos.shape[0], 1), 0.3, dtype=pos.dtype))
    _, a = free(0.0, (x, v))
    _, a_damped = damped(0.0, (x, v))
    torch.testing.assert_close(a_damped, a - 0.3 * v)
    assert free.nfe == 1 and damped.nfe == 1


def test_without_a_cached_protein_the_force_field_encodes_it():
    ff = ToyForceField().double()
    data = make_record(0)
    f = SecondOrderDynamics(ff, data, None, data["ligand"].mass)
    f(0.0, (data["ligand"].pos[:, 0], torch.zeros(6, 3, dtype=torch.float64)))
    f(0.5, (data["ligand"].pos[:, 0], torch.zeros(6, 3, dtype=torch.float64)))
    assert ff.encode_calls == 2


def test_initial_velocity_map_reads_the_finite_difference():
    data = make_record(0)
    mapper = toy_factory()
    x, v = data["ligand"].pos[:, 2], data["ligand"].pos[:, 2] - data["ligand"].pos[:, 1]
    mapped = map_initial_velocity(mapper, data, x, v)
    torch.testing.assert_close(mapped, mapper(data["ligand"].z, x, vec=v)[1])
    assert not torch.allclose(mapped, map_initial_velocity(mapper, data, x, 2 * v))
