"""Algorithm 1's training windows (dynamics/_windows.py): one sampler, per-complex streams, so that
``model.loss`` of a complex is the same alone or in any batch, for every model."""
from __future__ import annotations

import pytest
import torch
from _dynamics_toys import make_batch, make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)
from test_dynamics_symmetry import NAMES, build

from neuralmd.dynamics._windows import crop_windows, initial_state, sample_windows, window_length


def _starts(windows) -> list[int]:
    """The start snapshot of every atom's window (one per atom, equal within a complex)."""
    return windows.start.tolist()


def test_a_complexs_window_does_not_depend_on_its_batch():
    records = [make_record(i, n_lig=3 + i, T=12) for i in range(4)]
    together = sample_windows(make_batch(records), 3, torch.Generator().manual_seed(5))
    reordered = sample_windows(make_batch(records[::-1]), 3, torch.Generator().manual_seed(5))
    sizes = [r["ligand"].z.shape[0] for r in records]
    offsets = torch.tensor([0] + sizes).cumsum(0).tolist()
    for i, record in enumerate(records):
        alone = sample_windows(record, 3, torch.Generator().manual_seed(5))
        lo, hi = offsets[i], offsets[i + 1]
        assert _starts(together)[lo:hi] == _starts(alone)
        torch.testing.assert_close(together.targets[:, lo:hi], alone.targets, rtol=0, atol=0)
        j = len(records) - 1 - i                                # its place in the reversed batch
        start = sum(sizes[::-1][:j])
        assert _starts(reordered)[start:start + sizes[i]] == _starts(alone)
    # the draws really vary over complexes and seeds (a constant start would pass the above)
    starts = {s for seed in range(5) for s in _starts(sample_windows(make_batch(records), 3,
                                                                     torch.Generator().manual_seed(seed)))}
    assert len(starts) > 3 and min(starts) >= 1 and max(starts) <= 12 - 1 - 3


def test_windows_of_one_trajectory_get_their_own_streams():
    # SingleTrajectoryDataset's windows share the trajectory's id; t0 tells them apart.
    first, second = make_record(0, T=12), make_record(0, T=12)
    first.t0, second.t0 = 0, 1
    seeds = range(20)
    a = [sample_windows(first, 3, torch.Generator().manual_seed(s)).start[0] for s in seeds]
    b = [sample_windows(second, 3, torch.Generator().manual_seed(s)).start[0] for s in seeds]
    assert a != b


def test_crop_windows_cuts_the_windows_sample_windows_draws():
    records = [make_record(i, T=12) for i in range(3)]
    drawn = sample_windows(make_batch(records), 4, torch.Generator().manual_seed(9))
    crops = crop_windows(records, 4, torch.Generator().manual_seed(9))
    cropped = make_batch(crops)["ligand"].pos
    assert cropped.shape[1] == 4 + 2
    # snapshot 1 of each crop is its window start, 0 the snapshot before it (the velocity)
    torch.testing.assert_close(cropped[:, 1:].transpose(0, 1), drawn.targets, rtol=0, atol=0)
    torch.testing.assert_close(cropped[:, 1] - cropped[:, 0], drawn.v0, rtol=0, atol=0)
    assert all(r["ligand"].pos.shape[1] == 12 for r in records)          # the records are untouched


def test_crop_windows_batches_trajectories_of_different_lengths():
    records = [make_record(0, T=6), make_record(1, T=15)]
    crops = crop_windows(records, 10, torch.Generator().manual_seed(0))
    assert [c["ligand"].pos.shape[1] for c in crops] == [6, 6]          # window shortened to 6 - 2
    make_batch(crops)


def test_window_length_and_too_short_trajectories():
    assert window_length(10, 3) == 3 and window_length(5, 9) == 3 and window_length(3, 0) == 1
    with pytest.raises(ValueError, match="toy: training needs at least 3 snapshots, got 2"):
        window_length(2, 1, "toy")


def test_initial_state_is_the_backward_difference():
    pos = torch.arange(2 * 4 * 3, dtype=torch.float64).reshape(2, 4, 3) ** 2
    x0, v0 = initial_state(pos, torch.tensor([0, 2]))
    assert torch.equal(x0, torch.stack((pos[0, 0], pos[1, 2])))
    assert torch.equal(v0[0], torch.zeros(3)) and torch.equal(v0[1], pos[1, 2] - pos[1, 1])


def _loss(model, data, loss):
    options = {"samples": 3} if loss == "energy" else {}
    return model.loss(data, window=2, loss=loss, generator=torch.Generator().manual_seed(11), **options)


@pytest.mark.parametrize("name", NAMES)
def test_loss_of_a_complex_is_the_same_alone_or_in_any_batch(name):
    model = build(name)
    records = [make_record(i, n_lig=4 + i, n_res=9 + i) for i in range(3)]
    atoms = torch.tensor([r["ligand"].z.shape[0] for r in records], dtype=torch.float64)
    kinds = (["mae"] + (["energy"] if model.stochastic and name != "denoising" else [])
             + (["score"] if model.learns_equilibrium else []))
    # dopri5 picks one adaptive step sequence for the whole batch: equal only up to its tolerance.
    atol = 1e-4 if name == "ode-dopri5" else 1e-10
    for kind in kinds:
        alone = torch.stack([_loss(model, r, kind) for r in records])
        # The batch loss is the mean over all atoms: the atom-weighted mean of the complexes' losses.
        for order in ([0, 1, 2], [2, 0, 1], [1, 2]):
            batch = _loss(model, make_batch([records[i] for i in order]), kind)
            expected = (alone[order] * atoms[order]).sum() / atoms[order].sum()
            torch.testing.assert_close(batch, expected, rtol=0, atol=atol)
