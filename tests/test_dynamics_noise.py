"""dynamics/_noise.py: keys and streams of every per-complex random draw."""
from __future__ import annotations

import torch
from _dynamics_toys import make_batch, make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics._noise import (ComplexNoise, call_seeds, complex_ids, complex_keys, complex_noise,
                                      complex_seeds, draw_seed)


def test_keys_count_repeated_ids_and_tag_windows_and_samples():
    assert complex_keys(["a", "b", "a"]) == ["a#0", "b#0", "a#1"]
    data = make_batch([make_record(0, name="a"), make_record(1, name="a")])
    data.t0 = torch.tensor([0, 5])
    assert complex_ids(data, 2) == ["a:0", "a:5"]
    assert complex_ids(make_record(0, name="x"), 1) == ["x"]
    assert complex_ids(make_batch([make_record(0), make_record(1)]), 2) == ["toy0", "toy1"]


def test_seeds_depend_on_call_seed_and_key_only():
    assert complex_seeds(7, ["a", "b"])[1] == complex_seeds(7, ["b"])[0]
    assert complex_seeds(7, ["a"]) != complex_seeds(8, ["a"])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert draw_seed(g1) == draw_seed(g2) and draw_seed(g1) != draw_seed(torch.Generator().manual_seed(4))


def test_per_complex_streams_of_a_call():
    records = [make_record(0, n_lig=3), make_record(1, n_lig=5)]
    both = make_batch(records)
    assert call_seeds(both, torch.Generator().manual_seed(1))[1] == \
        call_seeds(records[1], torch.Generator().manual_seed(1))[0]
    noise = complex_noise(both, torch.Generator().manual_seed(1), records[0]["ligand"].pos)
    alone = complex_noise(records[1], torch.Generator().manual_seed(1), records[1]["ligand"].pos)
    first = noise.sample(3)
    assert first.shape == (8, 3) and first.dtype == torch.float64
    torch.testing.assert_close(first[3:], alone.sample(3), rtol=0, atol=0)
    torch.testing.assert_close(noise.sample(2)[3:], alone.sample(2), rtol=0, atol=0)   # streams go on


def test_integers_are_per_complex_and_in_range():
    draws = torch.stack([ComplexNoise([s, 99], [2, 2], torch.float64, torch.device("cpu")).integers(4)
                         for s in range(40)])
    assert draws.min() >= 0 and draws.max() <= 3
    assert len(set(draws[:, 0].tolist())) == 4 and len(set(draws[:, 1].tolist())) == 1
