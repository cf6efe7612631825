"""benchmarks/speed.py: the OpenMM reference builds the T4L generator's own system.

The reference once imported a simulation class that had moved into ``neuralmd.data.openmm`` and
printed "skipped" for the ImportError, so the speed table silently lost its OpenMM column. Here
the simulation is a stand-in that checks its keywords against ``PocketMD``'s real signature;
running OpenMM itself takes too long for the suite.
"""
import inspect
import json
from pathlib import Path
from types import SimpleNamespace

import h5py
import pytest
import torch

pytest.importorskip("openmm")

from benchmarks import speed  # noqa: E402
from neuralmd.data import openmm as nmd_openmm  # noqa: E402

T4L = Path(speed.__file__).resolve().parent / "data" / "t4l.hdf5"


class _StandIn:
    """Records ``from_prmtop``'s call after binding it to the real constructor's signature."""

    calls: list = []

    @classmethod
    def from_prmtop(cls, prmtop, coordinates, *, implicit_solvent="OBC2", cutoff_nm=1.0, **kwargs):
        inspect.signature(nmd_openmm.PocketMD.from_prmtop).bind(prmtop, coordinates, implicit_solvent=implicit_solvent,
                                                                 cutoff_nm=cutoff_nm)
        inspect.signature(nmd_openmm.PocketMD.__init__).bind(None, None, None, None, None, **kwargs)
        cls.calls.append(dict(kwargs, cutoff_nm=cutoff_nm))
        steps = []
        return SimpleNamespace(keep=list(range(771)), run=lambda *args: None,
                               integrator=SimpleNamespace(step=steps.append),
                               context=SimpleNamespace(getState=lambda **kw: None), steps=steps)


def test_openmm_reference_simulates_the_generators_system(monkeypatch, tmp_path):
    if not T4L.exists():
        pytest.skip(f"{T4L} not present")
    monkeypatch.setattr("benchmarks.generate_t4l.PocketMD", _StandIn)
    monkeypatch.setattr("benchmarks.generate_t4l.fetch_complex", lambda cache: tmp_path)
    out = speed.openmm_reference(T4L, 3, torch.device("cpu"), threads=1)
    with h5py.File(T4L, "r") as f:
        settings = json.loads(f[sorted(f)[0]].attrs["settings"])
    (call,) = _StandIn.calls
    assert call["pocket"] == settings["pocket_A"] and call["cutoff_nm"] == settings["cutoff_nm"]
    assert call["timestep_fs"] == settings["step_fs"] and call["ligand"] == "TMP"
    assert out["steps"] == 3 * settings["interval_steps"]
    assert out["simulated_ps"] == pytest.approx(out["steps"] * settings["step_fs"] * 1e-3)
