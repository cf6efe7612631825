"""Energy score, CRPS and skill against independent numpy computations and known distributions."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from neuralmd.metrics import crps, energy_score, ensemble_mean, mae, mean_l2, paired_ratio_interval, skill


def numpy_kernel_score(samples: np.ndarray, target: np.ndarray, per_coordinate: bool) -> np.ndarray:
    """(T, N) scores with explicit loops over sample pairs."""
    k = samples.shape[0]
    dist = (lambda a, b: np.abs(a - b)) if per_coordinate else (lambda a, b: np.linalg.norm(a - b, axis=-1))
    first = np.mean([dist(samples[i], target) for i in range(k)], axis=0)
    pairs = [dist(samples[i], samples[j]) for i, j in itertools.permutations(range(k), 2)]
    second = np.mean(pairs, axis=0) if pairs else np.zeros_like(first)
    score = first - second / 2
    return score.mean(-1) if per_coordinate else score


@pytest.mark.parametrize("k", [1, 2, 5])
def test_energy_score_and_crps_match_numpy_with_equal_weight_per_complex(k):
    rng = np.random.default_rng(k)
    samples, target = rng.normal(size=(k, 4, 7, 3)), rng.normal(size=(4, 7, 3))
    batch = np.array([0, 0, 0, 2, 2, 5, 5])      # labels with gaps
    for fn, per_coordinate in ((energy_score, False), (crps, True)):
        per_atom = numpy_kernel_score(samples, target, per_coordinate)
        expected = np.mean([per_atom[:, batch == b].mean() for b in (0, 2, 5)])
        got = fn(torch.from_numpy(samples), torch.from_numpy(target), torch.from_numpy(batch))
        assert got == pytest.approx(expected, rel=1e-12)


def test_one_sample_reduces_to_the_point_errors():
    rng = np.random.default_rng(0)
    pred, target = torch.from_numpy(rng.normal(size=(3, 5, 3))), torch.from_numpy(rng.normal(size=(3, 5, 3)))
    assert energy_score(pred, target) == pytest.approx(mean_l2(pred, target), rel=1e-12)
    assert crps(pred.unsqueeze(0), target) == pytest.approx(mae(pred, target), rel=1e-12)


def test_a_perfect_sampler_of_a_gaussian_beats_static_and_mean_pose():
    gen = torch.Generator().manual_seed(0)
    mean, sigma, T, N, K = torch.randn(N := 6, 3, generator=gen, dtype=torch.float64), 0.4, 200, 6, 32
    target = mean + sigma * torch.randn(T, N, 3, generator=gen, dtype=torch.float64)
    start = mean + sigma * torch.randn(N, 3, generator=gen, dtype=torch.float64)      # last seen pose
    sampler = mean + sigma * torch.randn(K, T, N, 3, generator=gen, dtype=torch.float64)
    static = start.expand(T, N, 3)
    mean_pose = mean.expand(T, N, 3)               # even the exact mean loses to the right spread
    es = {name: energy_score(x, target) for name, x in
          (("sampler", sampler), ("static", static), ("meanpose", mean_pose))}
    assert es["sampler"] < es["meanpose"] < es["static"]
    # analytic values: chi_3 mean = 2 sqrt(2 / pi); point mass sigma * that, truth 1 / sqrt(2) of it
    chi = 2 * np.sqrt(2 / np.pi)
    assert es["meanpose"] == pytest.approx(sigma * chi, rel=0.05)
    assert es["sampler"] == pytest.approx(sigma * chi / np.sqrt(2), rel=0.05)
    assert skill(es["sampler"], es["static"]) > 0.35


def test_a_too_narrow_or_too_wide_ensemble_scores_worse_than_the_right_one():
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(300, 4, 3, generator=gen, dtype=torch.float64)
    scores = [energy_score(scale * torch.randn(16, 300, 4, 3, generator=gen, dtype=torch.float64), target)
              for scale in (0.3, 1.0, 3.0)]
    assert scores[1] < scores[0] and scores[1] < scores[2]


def test_skill_and_its_errors():
    assert skill(1.0, 2.0) == 0.5 and skill(2.0, 2.0) == 0.0 and skill(3.0, 2.0) == -0.5
    with pytest.raises(ValueError, match="reference score must be positive"):
        skill(1.0, 0.0)


def test_ensemble_shapes_are_checked_and_mean_is_the_sample_mean():
    with pytest.raises(ValueError, match="must match target"):
        energy_score(torch.zeros(2, 3, 4, 3), torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match=r"\(K, T, N, 3\)"):
        crps(torch.zeros(2, 3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="NaN or inf"):
        energy_score(torch.full((2, 1, 1, 3), float("nan")), torch.zeros(1, 1, 3))
    x = torch.arange(24.0).reshape(2, 1, 4, 3)
    assert torch.equal(ensemble_mean(x), x.double().mean(0))


def test_paired_ratio_interval_resamples_cases_in_pairs():
    # a model at half the reference on every test: every paired resample gives exactly 0.5
    assert paired_ratio_interval([0.5, 1.0, 2.0], [1.0, 2.0, 4.0]) == (0.5, 0.5, 0.5)
    # half the tests 20 % better, half 20 % worse: the interval spans 1 (no verdict from 10 tests)
    model, reference = [0.8, 1.2] * 5, [1.0] * 10
    ratio, low, high = paired_ratio_interval(model, reference)
    assert ratio == pytest.approx(1.0) and low < 0.95 and high > 1.05
    # 1 % better on each of 40 tests with 30 % spread between tests: paired, so the interval is tight
    reference = [1.0 + 0.3 * (i % 7) for i in range(40)]
    ratio, low, high = paired_ratio_interval([0.99 * r for r in reference], reference)
    assert low == pytest.approx(0.99) and high == pytest.approx(0.99)
    assert paired_ratio_interval(model, reference[:10], seed=1) != paired_ratio_interval(model, reference[:10], seed=2)
    with pytest.raises(ValueError, match="paired"):
        paired_ratio_interval([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive sum"):
        paired_ratio_interval([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="level"):
        paired_ratio_interval([1.0], [1.0], level=1.0)
    # many cases: the resamples run in several bounded-memory chunks; a 10 % gain is resolved
    many = [1.0 + (i % 5) for i in range(5000)]
    ratio, low, high = paired_ratio_interval([0.9 * m + 0.05 * (i % 3) for i, m in enumerate(many)], many,
                                             resamples=2000)
    assert low < ratio < high and high - low < 0.01


def test_energy_score_by_lag_splits_the_energy_score_by_snapshot():
    from neuralmd.metrics import energy_score_by_lag

    g = torch.Generator().manual_seed(3)
    samples = torch.randn(6, 5, 7, 3, generator=g, dtype=torch.float64)
    target = torch.randn(5, 7, 3, generator=g, dtype=torch.float64)
    batch = torch.tensor([4, 4, 4, 9, 9, 9, 9])      # two complexes of unequal size, equal weight
    curve = energy_score_by_lag(samples, target, batch)
    assert curve.shape == (5,)
    # its mean is the energy score; each entry is the energy score of that snapshot alone
    assert float(curve.mean()) == pytest.approx(energy_score(samples, target, batch), rel=1e-12)
    for t in range(5):
        assert float(curve[t]) == pytest.approx(energy_score(samples[:, t:t + 1], target[t:t + 1], batch), rel=1e-12)
    # a sample exact at one lag and off at another shows the difference there only
    near = target.unsqueeze(0).repeat(2, 1, 1, 1)
    near[:, 3] += torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64)
    assert energy_score_by_lag(near, target).tolist() == pytest.approx([0, 0, 0, 2, 0], abs=1e-12)
    with pytest.raises(ValueError, match="must match target"):
        energy_score_by_lag(samples[:, :4], target)
