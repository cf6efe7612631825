"""Vector frames and (de)scalarization: pure functions on tensors (paper section 4.1, supplement C).

>>> import torch
>>> from neuralmd.frames import gram_schmidt, scalarize, vectorize
>>> frame = gram_schmidt(torch.randn(5, 3), torch.randn(5, 3))
>>> v = torch.randn(5, 3)
>>> torch.allclose(vectorize(scalarize(v, frame), frame), v, atol=1e-6)
True
"""
from ._basis import DEGENERATE_EPS, gram_schmidt, scalarize, vectorize
from ._levels import MAX_CA_GAP, backbone_frames, chain_segments, edge_frames, residue_frames

__all__ = [
    "DEGENERATE_EPS",
    "MAX_CA_GAP",
    "gram_schmidt",
    "scalarize",
    "vectorize",
    "edge_frames",
    "backbone_frames",
    "residue_frames",
    "chain_segments",
]
