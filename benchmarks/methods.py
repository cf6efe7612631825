"""The methods every benchmark compares, built the same way for speed and accuracy runs."""
from __future__ import annotations

from torch import nn

from neuralmd.dynamics import (DenoisingLD, GNNMD, LinearBaseline, MeanPoseBaseline, NeuralMD, RandomWalkBaseline,
                               StaticBaseline, StationaryBaseline, VerletMD)
from neuralmd.layers import BindingNet

METHODS = ("NeuralMD ODE", "NeuralMD SDE", "VerletMD", "GNN-MD", "DenoisingLD", "Static", "Linear")
#: Baselines fitted on the snapshots a model may see; accuracy tables show them beside METHODS.
HISTORY_BASELINES = ("MeanPose", "Stationary", "RandomWalk")

#: The Langevin ablation (issue 11): the paper's NeuralMD SDE (rank-1 noise, Euler-Maruyama, MAE
#: training) with one component added at a time, and all of them. Each entry: NeuralMD keywords
#: on top of the paper SDE, and the training loss.
_PAPER_SDE = dict(solver="sde", method="euler", step_size=0.5)
ABLATION: dict[str, tuple[dict, str]] = {
    "SDE (paper)": ({}, "mae"),
    "SDE + friction": ({"friction": 0.5}, "mae"),
    "SDE + full-rank noise": ({"noise": "full"}, "mae"),
    "SDE + fluctuation-dissipation": ({"friction": 0.5, "noise": "fdt"}, "mae"),
    "SDE + energy-score training": ({}, "energy"),
    "SDE + BAOAB": ({"friction": 0.5, "method": "baoab"}, "mae"),
    "SDE + all (Langevin)": ({"friction": 0.5, "noise": "fdt", "method": "baoab", "coefficients": "ligand"},
                             "energy"),
}


def training_loss(method: str) -> str:
    """The loss a method trains with in the benchmarks (Eq. 13's MAE unless the ablation says)."""
    return ABLATION[method][1] if method in ABLATION else "mae"


def build(method: str, hidden: int = 128, layers: int = 5, cutoff: float = 5.0,
          velocity_mapping: bool = False, kT: float = 1.0, friction: float | None = None) -> nn.Module:
    """One dynamics model on a fresh BindingNet (paper Table 5 defaults: 128 wide, 5 layers, 5 Å).

    NeuralMD ODE: RK4, step 0.5 snapshot; SDE: Euler-Maruyama, step 0.5; Langevin: BAOAB, step 0.5,
    learned friction and fluctuation-dissipation noise (docs/dynamics.md); VerletMD: step 0.5;
    DenoisingLD: 10 Langevin steps per snapshot (paper section 2.7). ``velocity_mapping`` switches
    on NeuralMD's learned initial-velocity map (section 4.3); other methods ignore it. ``kT`` is the
    initial learned kT of the fluctuation-dissipation variants (amu Å² / interval²); ``friction``,
    when given, replaces the initial friction of the ablation variants that have one.
    """
    net = lambda: BindingNet(hidden=hidden, num_layers=layers, cutoff=cutoff)  # noqa: E731
    makers = {
        "NeuralMD ODE": lambda: NeuralMD(net(), solver="ode", method="rk4", step_size=0.5,
                                         velocity_mapping=velocity_mapping),
        "NeuralMD SDE": lambda: NeuralMD(net(), solver="sde", method="euler", step_size=0.5,
                                         velocity_mapping=velocity_mapping),
        # Not in METHODS (the default tables): as model=neuralmd_langevin, meant for energy-score training.
        "NeuralMD Langevin": lambda: NeuralMD(net(), solver="sde", method="baoab", step_size=0.5,
                                              velocity_mapping=velocity_mapping, friction=0.5, noise="fdt",
                                              coefficients="ligand", kT=0.4),
        "VerletMD": lambda: VerletMD(net(), step_size=0.5),
        "GNN-MD": lambda: GNNMD(net()),
        "DenoisingLD": lambda: DenoisingLD(net(), steps=10),
        "Static": StaticBaseline,
        "Linear": LinearBaseline,
        "MeanPose": MeanPoseBaseline,
        "Stationary": StationaryBaseline,
        "RandomWalk": RandomWalkBaseline,
    }
    for name, (options, _) in ABLATION.items():
        fdt = {"kT": kT} if options.get("noise") == "fdt" else {}
        if friction is not None and "friction" in options:
            fdt["friction"] = friction
        makers[name] = lambda options=options, fdt=fdt: NeuralMD(net(), **{**_PAPER_SDE, **options, **fdt},
                                                                 velocity_mapping=velocity_mapping)
    if method not in makers:
        raise ValueError(f"unknown method {method!r}; choose from {tuple(makers)}")
    return makers[method]()
