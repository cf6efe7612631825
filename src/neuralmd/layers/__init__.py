"""BindingNet and its building blocks (paper section 4.2, supplement E.1).

Blocks in the style of MACE: radial bases (``RadialBasis``, ``cosine_cutoff``), pure-torch
batch-aware neighbour search (``radius_graph``, ``radius``), the shared message-passing layers
(``NeighborEmbedding``, ``FrameInteraction``), the three BindingNet modules and their assembly,
and ``E3nnLigand``, a spherical-harmonic alternative to ``BindingNetLigand``; both implement
``LigandEncoder``, the ligand encoders' one interface.
Each module is usable on its own in a new model (see ``docs/layers.md``).
"""
from .._format import complex_name, node_batch
from ._bindingnet import BindingNet
from ._blocks import MLP, NeighborEmbedding
from ._complex import BindingNetComplex
from ._e3nn_ligand import E3nnLigand
from ._interaction import EdgeGeometry, FrameInteraction, compile_message_passing
from ._ligand import BindingNetLigand
from ._ligand_encoder import LigandEncoder
from ._neighbors import radius, radius_graph
from ._protein import BindingNetProtein, ProteinEncoding
from ._radial import CosineCutoff, RadialBasis, cosine_cutoff, safe_norm
from ._weight_cache import shared_parameter_products

__all__ = [
    "BindingNet",
    "BindingNetLigand",
    "BindingNetProtein",
    "BindingNetComplex",
    "E3nnLigand",
    "LigandEncoder",
    "ProteinEncoding",
    "radius_graph",
    "radius",
    "RadialBasis",
    "CosineCutoff",
    "cosine_cutoff",
    "safe_norm",
    "MLP",
    "NeighborEmbedding",
    "FrameInteraction",
    "EdgeGeometry",
    "compile_message_passing",
    "shared_parameter_products",
    "node_batch",
    "complex_name",
]
