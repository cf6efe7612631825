"""Every ``>>>`` example in the package's docstrings runs and prints what it shows."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import neuralmd

MODULES = sorted(m.name for m in pkgutil.walk_packages(neuralmd.__path__, "neuralmd.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = doctest.testmod(importlib.import_module(name), report=False,
                                 optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    finally:
        torch.set_num_threads(threads)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


def test_the_examples_exist():
    # Guards the test above against collecting nothing (e.g. a renamed package).
    attempted = sum(doctest.testmod(importlib.import_module(n), report=False, optionflags=doctest.ELLIPSIS).attempted
                    for n in ("neuralmd.metrics._ensemble", "neuralmd.dynamics._second_order"))
    assert attempted >= 8
