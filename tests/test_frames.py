"""Symmetry and robustness of the three levels of vector frames (float64, random rotations)."""
import pytest
import torch
from e3nn import o3
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralmd.frames import (
    backbone_frames,
    chain_segments,
    edge_frames,
    gram_schmidt,
    residue_frames,
    scalarize,
    vectorize,
)

DTYPE = torch.float64
TOL = 1e-10
MIRROR = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=DTYPE))

seeds = st.integers(min_value=0, max_value=2**31 - 1)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=DTYPE)


def _rotation(seed: int) -> torch.Tensor:
    # e3nn draws from torch's global generator: seed it so each hypothesis example is reproducible
    torch.manual_seed(seed)
    return o3.rand_matrix(dtype=DTYPE)


def _rotate_frames(frames: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Frames are stored as rows e_k, so a rotated frame is F @ R^T."""
    return frames @ rotation.T


def _full_graph(n: int, offset: int = 0) -> torch.Tensor:
    idx = torch.arange(n) + offset
    src, dst = torch.meshgrid(idx, idx, indexing="ij")
    keep = src != dst
    return torch.stack((src[keep], dst[keep]))


def _random_chain(num: int, gen: torch.Generator, start=None) -> torch.Tensor:
    """A C-alpha trace with 3.8 Å steps in random directions (a plausible, non-planar chain)."""
    steps = _randn(num, 3, gen=gen)
    steps = 3.8 * steps / steps.norm(dim=-1, keepdim=True)
    origin = torch.zeros(3, dtype=DTYPE) if start is None else start
    return origin + torch.cumsum(steps, dim=0)


def _random_backbone(num: int, gen: torch.Generator):
    ca = 10 * _randn(num, 3, gen=gen)
    n = ca + _randn(num, 3, gen=gen)
    c = ca + _randn(num, 3, gen=gen)
    return n, ca, c


def _assert_orthonormal(frames: torch.Tensor, tol: float = 1e-9) -> None:
    eye = torch.eye(3, dtype=frames.dtype).expand_as(frames)
    assert torch.isfinite(frames).all()
    assert (frames @ frames.transpose(-1, -2) - eye).abs().max() < tol
    # right-handed: e3 = e1 x e2, so det = +1
    assert (torch.linalg.det(frames) - 1).abs().max() < tol


# ---------------------------------------------------------------- gram_schmidt, (de)scalarization


@settings(max_examples=25, deadline=None)
@given(seeds)
def test_gram_schmidt_rotation_equivariant_and_e3_pseudo_vector(seed):
    gen = _gen(seed)
    a, b = _randn(2, 50, 3, gen=gen)
    rotation = _rotation(seed)
    frames = gram_schmidt(a, b)
    _assert_orthonormal(frames)
    rotated = gram_schmidt(a @ rotation.T, b @ rotation.T)
    assert (rotated - _rotate_frames(frames, rotation)).abs().max() < TOL

    mirrored = gram_schmidt(a @ MIRROR, b @ MIRROR)
    expected = _rotate_frames(frames, MIRROR)
    assert (mirrored[:, :2] - expected[:, :2]).abs().max() < TOL
    # the third axis is a pseudo-vector: it does not follow the mirror
    assert (mirrored[:, 2] + expected[:, 2]).abs().max() < TOL


def test_gram_schmidt_docstring_example():
    frame = gram_schmidt(torch.tensor([2.0, 0, 0], dtype=DTYPE), torch.tensor([1.0, 1, 0], dtype=DTYPE))
    assert torch.allclose(frame, torch.eye(3, dtype=DTYPE))


@settings(max_examples=25, deadline=None)
@given(seeds, st.integers(min_value=1, max_value=6))
def test_vectorize_inverts_scalarize_for_vectors_and_features(seed, channels):
    gen = _gen(seed)
    frames = gram_schmidt(*_randn(2, 7, 3, gen=gen))
    v = _randn(7, 3, gen=gen)
    features = _randn(7, 3, channels, gen=gen)
    assert (vectorize(scalarize(v, frames), frames) - v).abs().max() < TOL
    assert (vectorize(scalarize(features, frames), frames) - features).abs().max() < TOL
    # per-channel scalarization agrees with the vector case
    per_channel = torch.stack([scalarize(features[..., k], frames) for k in range(channels)], -1)
    assert (scalarize(features, frames) - per_channel).abs().max() < TOL


def test_scalarize_rejects_mismatched_shapes():
    frames = gram_schmidt(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="expected vectors"):
        scalarize(torch.randn(4, 2), frames)
    with pytest.raises(ValueError, match="frame must have shape"):
        scalarize(torch.randn(4, 3), torch.randn(4, 3, 2))


# ------------------------------------------------------------------------ edge frames (Eq. 3)


@settings(max_examples=20, deadline=None)
@given(seeds, st.integers(min_value=3, max_value=12))
def test_edge_frames_rotate_translate_and_scalars_invariant(seed, num_atoms):
    gen = _gen(seed)
    pos = 3 * _randn(num_atoms, 3, gen=gen)
    edges = _full_graph(num_atoms)
    rotation = _rotation(seed)
    shift = 100 * _randn(3, gen=gen)
    frames = edge_frames(pos, edges)
    _assert_orthonormal(frames)

    moved = edge_frames(pos @ rotation.T + shift, edges)
    assert (moved - _rotate_frames(frames, rotation)).abs().max() < TOL

    # an equivariant quantity (the edge vector) scalarizes to the same invariants
    vec = pos[edges[1]] - pos[edges[0]]
    scalars = scalarize(vec, frames)
    moved_scalars = scalarize(vec @ rotation.T, moved)
    assert (scalars - moved_scalars).abs().max() < TOL


@settings(max_examples=20, deadline=None)
@given(seeds)
def test_edge_frames_translation_of_one_complex_in_a_batch(seed):
    gen = _gen(seed)
    sizes = (5, 8, 4)
    pos = _randn(sum(sizes), 3, gen=gen) * 2
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    edges = torch.cat([_full_graph(n, off) for n, off in zip(sizes, (0, 5, 13))], dim=1)
    frames = edge_frames(pos, edges, batch)

    shifted = pos.clone()
    shifted[batch == 1] += 1e3 * _randn(3, gen=gen)
    assert (edge_frames(shifted, edges, batch) - frames).abs().max() < 1e-9

    # each complex alone gives exactly its frames inside the batch
    for k, (n, off) in enumerate(zip(sizes, (0, 5, 13))):
        alone = edge_frames(pos[batch == k], _full_graph(n))
        inside = frames[(edges[0] >= off) & (edges[0] < off + n)]
        assert (alone - inside).abs().max() < TOL


def test_edge_frames_reflection_flips_e3_components():
    gen = _gen(3)
    pos = _randn(6, 3, gen=gen)
    edges = _full_graph(6)
    vec = pos[edges[1]] - pos[edges[0]] + _randn(edges.shape[1], 3, gen=gen)
    scalars = scalarize(vec, edge_frames(pos, edges))
    mirrored = scalarize(vec @ MIRROR, edge_frames(pos @ MIRROR, edges))
    assert (mirrored[:, :2] - scalars[:, :2]).abs().max() < TOL
    assert (mirrored[:, 2] + scalars[:, 2]).abs().max() < TOL
    assert scalars[:, 2].abs().max() > 1e-3  # the flip is visible, so mirror images differ


def test_edge_frame_e3_is_the_papers_cross_product_of_centred_positions():
    pos = _randn(4, 3, gen=_gen(0))
    edges = _full_graph(4)
    centred = pos - pos.mean(0)
    cross = torch.linalg.cross(centred[edges[1]], centred[edges[0]], dim=-1)
    cross = cross / cross.norm(dim=-1, keepdim=True)
    assert (edge_frames(pos, edges)[:, 2] - cross).abs().max() < TOL


# -------------------------------------------------------------------- backbone frames (Eq. 4)


@settings(max_examples=20, deadline=None)
@given(seeds)
def test_backbone_frames_equivariance_and_reflection(seed):
    gen = _gen(seed)
    n, ca, c = _random_backbone(30, gen)
    rotation = _rotation(seed)
    shift = 50 * _randn(3, gen=gen)
    frames = backbone_frames(n, ca, c)
    _assert_orthonormal(frames)
    moved = backbone_frames(*(x @ rotation.T + shift for x in (n, ca, c)))
    assert (moved - _rotate_frames(frames, rotation)).abs().max() < TOL

    vec = _randn(30, 3, gen=gen)
    scalars = scalarize(vec, frames)
    mirror_scalars = scalarize(vec @ MIRROR, backbone_frames(n @ MIRROR, ca @ MIRROR, c @ MIRROR))
    assert (mirror_scalars[:, 2] + scalars[:, 2]).abs().max() < TOL
    assert (mirror_scalars[:, :2] - scalars[:, :2]).abs().max() < TOL


# --------------------------------------------------------------------- residue frames (Eq. 5)


@settings(max_examples=20, deadline=None)
@given(seeds, st.integers(min_value=3, max_value=40))
def test_residue_frames_equivariant(seed, num):
    gen = _gen(seed)
    ca = _random_chain(num, gen)
    chain = torch.zeros(num, dtype=torch.long)
    rotation = _rotation(seed)
    frames = residue_frames(ca, chain)
    _assert_orthonormal(frames)
    moved = residue_frames(ca @ rotation.T + 20 * _randn(3, gen=gen), chain)
    assert (moved - _rotate_frames(frames, rotation)).abs().max() < TOL


def test_residue_frames_never_cross_chains():
    gen = _gen(1)
    first = _random_chain(6, gen)
    # the second chain starts 3.8 Å from the end of the first: only the chain id separates them
    second = _random_chain(5, gen, start=first[-1])
    ca = torch.cat([first, second])
    chain = torch.tensor([0] * 6 + [1] * 5)
    together = residue_frames(ca, chain)
    assert (together[:6] - residue_frames(first, chain[:6])).abs().max() < TOL
    assert (together[6:] - residue_frames(second, chain[6:])).abs().max() < TOL
    # moving one chain rigidly never changes the other's frames
    moved = ca.clone()
    moved[6:] += 7.0  # a pure translation of chain 1
    assert (residue_frames(moved, chain)[:6] - together[:6]).abs().max() < TOL


def test_residue_frames_split_at_chain_breaks_and_complexes():
    gen = _gen(2)
    first = _random_chain(5, gen)
    second = _random_chain(5, gen, start=first[-1] + torch.tensor([10.0, 0, 0], dtype=DTYPE))
    ca = torch.cat([first, second])
    same_chain = torch.zeros(10, dtype=torch.long)
    assert chain_segments(ca, same_chain).tolist() == [0] * 5 + [1] * 5
    frames = residue_frames(ca, same_chain)
    assert (frames[5:] - residue_frames(second, same_chain[5:])).abs().max() < TOL

    # two complexes of a batch that both number their chain 0 and happen to touch
    touching = torch.cat([first, _random_chain(5, gen, start=first[-1])])
    batch = torch.tensor([0] * 5 + [1] * 5)
    assert chain_segments(touching, same_chain, batch).tolist() == [0] * 5 + [1] * 5
    batched = residue_frames(touching, same_chain, batch)
    assert (batched[:5] - residue_frames(first, same_chain[:5])).abs().max() < TOL


def test_residue_frame_uses_inner_neighbour_at_chain_ends():
    ca = _random_chain(6, _gen(4))
    frames = residue_frames(ca, torch.zeros(6, dtype=torch.long))
    assert (frames[0] - frames[1]).abs().max() < TOL
    assert (frames[-1] - frames[-2]).abs().max() < TOL
    expected = gram_schmidt(ca[2] - ca[3], ca[2] - ca[1])
    assert (frames[2] - expected).abs().max() < TOL


def test_short_segments_take_the_fallback_frames():
    gen = _gen(5)
    ca = _random_chain(7, gen)
    n, c = ca + _randn(2, 7, 3, gen=gen)
    chain = torch.tensor([0, 1, 1, 2, 2, 2, 2])
    fallback = backbone_frames(n, ca, c)
    frames = residue_frames(ca, chain, fallback=fallback)
    assert (frames[:3] - fallback[:3]).abs().max() < TOL
    assert (frames[3:] - residue_frames(ca[3:], chain[3:])).abs().max() < TOL
    # without a fallback they are still finite and orthonormal
    _assert_orthonormal(residue_frames(ca, chain))


# ------------------------------------------------------------------------- degenerate geometry


DEGENERATE_CASES = {
    "zero vectors": (torch.zeros(4, 3, dtype=DTYPE), torch.zeros(4, 3, dtype=DTYPE)),
    "parallel": (
        torch.tensor([[1.0, 2, 3]] * 4, dtype=DTYPE),
        torch.tensor([[2.0, 4, 6]] * 4, dtype=DTYPE),
    ),
    "antiparallel": (
        torch.tensor([[0.0, 0, 1]] * 4, dtype=DTYPE),
        torch.tensor([[0.0, 0, -5]] * 4, dtype=DTYPE),
    ),
    "second zero": (_randn(4, 3, gen=_gen(6)), torch.zeros(4, 3, dtype=DTYPE)),
}


@pytest.mark.parametrize("name", list(DEGENERATE_CASES))
def test_gram_schmidt_degenerate_inputs_finite_orthonormal_with_finite_gradients(name):
    a, b = (x.clone().requires_grad_(True) for x in DEGENERATE_CASES[name])
    frames = gram_schmidt(a, b)
    _assert_orthonormal(frames.detach())
    (frames * torch.randn_like(frames)).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_frames_of_coincident_and_collinear_points_have_finite_values_and_gradients():
    line = torch.tensor(
        [[0.0, 0, 0], [1.0, 1, 1], [2.0, 2, 2], [2.0, 2, 2]], dtype=DTYPE, requires_grad=True
    )
    edges = _full_graph(4)
    frames = edge_frames(line, edges)
    res = residue_frames(line, torch.zeros(4, dtype=torch.long))
    bb = backbone_frames(line[[0, 3]], line[[3, 3]], line[[3, 1]])
    for f in (frames, res, bb):
        _assert_orthonormal(f.detach())
    (frames.sum() + res.sum() + bb.sum()).backward()
    assert torch.isfinite(line.grad).all()
