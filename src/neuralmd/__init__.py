"""neuralmd: learn protein-ligand binding dynamics with SE(3)-equivariant neural differential equations.

The data path reads in one pass: record -> graph batch -> frames -> BindingNet -> dynamics ->
metrics/export, one subpackage per step (see ``docs/design.md``).
"""
__version__ = "0.1.0"
