"""The methods every benchmark compares, built from the same hydra configs ``neuralmd train`` uses.

Each method is a model config (``src/neuralmd/conf/model/<name>.yaml``) plus the overrides that
make it the benchmarked variant: data, not a second registry of constructors. The benchmarks use
the paper's sizes (Table 5: BindingNet 128 wide, 5 layers, 5 Å, 32 radial functions) where the
configs are sized for a laptop, the paper's integrators (NeuralMD ODE: RK4 with step 0.5, the
default of ``neuralmd.dynamics._integrators``; the CLI config picks midpoint for speed on a CPU),
and no learned initial-velocity map unless asked for.
"""
from __future__ import annotations

import torch
from omegaconf import OmegaConf
from torch import nn

from neuralmd.cli import compose
from neuralmd.cli._build import build_model

#: Methods of the default tables.
METHODS = ("NeuralMD ODE", "NeuralMD SDE", "VerletMD", "GNN-MD", "DenoisingLD", "Static", "Linear")
#: Baselines fitted on the snapshots a model may see; accuracy tables show them beside METHODS.
HISTORY_BASELINES = ("MeanPose", "Stationary", "RandomWalk")

#: method -> (model config, overrides of its keys). ``method: null`` takes the integrator's default.
CONFIGS: dict[str, tuple[str, dict]] = {
    "NeuralMD ODE": ("neuralmd_ode", {"method": None}),
    "NeuralMD SDE": ("neuralmd_sde", {}),
    # Not in METHODS (the default tables): model=neuralmd_langevin, meant for energy-score training.
    "NeuralMD Langevin": ("neuralmd_langevin", {}),
    "VerletMD": ("verletmd", {}),
    "GNN-MD": ("gnnmd", {}),
    "DenoisingLD": ("denoisingld", {}),
    "Static": ("static", {}),
    "Linear": ("linear", {}),
    "MeanPose": ("meanpose", {}),
    "Stationary": ("stationary", {}),
    # Not in HISTORY_BASELINES (the trivial set): the check of the history well's shape
    "Stationary (anisotropic)": ("stationary", {"shape": "anisotropic"}),
    "RandomWalk": ("randomwalk", {}),
    # Not in HISTORY_BASELINES either (added after the set): relaxation from the last pose
    # into the Stationary ensemble at the observed lag-1 autocorrelation, the bar for dynamics
    "OrnsteinUhlenbeck": ("ornsteinuhlenbeck", {}),
    "OrnsteinUhlenbeck (anisotropic)": ("ornsteinuhlenbeck", {"shape": "anisotropic"}),
}

#: An ABLATION option (not a model key): replace the learned force by zero after building.
NO_LEARNED_FORCE = "no_learned_force"

#: The Langevin ablation (issue 11): the paper's NeuralMD SDE (rank-1 noise, Euler-Maruyama, MAE
#: training, model=neuralmd_sde) with one component added at a time, and all of them. Each entry:
#: overrides of neuralmd_sde's keys, and the training loss.
ABLATION: dict[str, tuple[dict, str]] = {
    "SDE (paper)": ({}, "mae"),
    "SDE + friction": ({"friction": 0.5}, "mae"),
    "SDE + full-rank noise": ({"noise": "full"}, "mae"),
    "SDE + fluctuation-dissipation": ({"friction": 0.5, "noise": "fdt"}, "mae"),
    "SDE + energy-score training": ({}, "energy"),
    "SDE + BAOAB": ({"friction": 0.5, "method": "baoab"}, "mae"),
    "SDE + all (Langevin)": ({"friction": 0.5, "noise": "fdt", "method": "baoab", "coefficients": "ligand"},
                             "energy"),
    # All of the above, plus the equilibrium term: denoising score matching of F / kT on the
    # training snapshots (dynamics._score), alone for --score-steps steps first, then beside the
    # energy score with weight 1. Chosen on the validation trajectory T4L_02 (docs/results.md 3.2).
    "SDE + all + equilibrium score": ({"friction": 0.5, "noise": "fdt", "method": "baoab",
                                       "coefficients": "ligand", "score_weight": 1.0, "score_noise": 0.2},
                                      "energy"),
    # All of the above (no equilibrium term), plus the harmonic well of the snapshots seen before
    # each start (NeuralMD(history_prior=True)): the Stationary baseline's distribution as the
    # prior equilibrium, the learned force correcting it.
    "SDE + all + history prior": ({"friction": 0.5, "noise": "fdt", "method": "baoab", "coefficients": "ligand",
                                   "history_prior": True}, "energy"),
    # The learned force behind a gate that starts at 0 (training starts from the well's dynamics),
    # and with the equilibrium term on the training snapshots (the well included in the score).
    "SDE + all + gated history prior": ({"friction": 0.5, "noise": "fdt", "method": "baoab",
                                         "coefficients": "ligand", "history_prior": True,
                                         "gate_learned_force": True}, "energy"),
    "SDE + all + gated history prior + equilibrium score": ({"friction": 0.5, "noise": "fdt", "method": "baoab",
                                                             "coefficients": "ligand", "history_prior": True,
                                                             "gate_learned_force": True, "score_weight": 1.0,
                                                             "score_noise": 0.2}, "energy"),
    # The well with each atom's 3 x 3 covariance instead of one variance, without a learned force.
    "SDE + all + anisotropic history prior, no learned force": ({"friction": 0.5, "noise": "fdt", "method": "baoab",
                                                                 "coefficients": "ligand", "history_prior": True,
                                                                 "prior_shape": "anisotropic",
                                                                 NO_LEARNED_FORCE: True}, "energy"),
    "SDE + all + anisotropic history prior": ({"friction": 0.5, "noise": "fdt", "method": "baoab",
                                               "coefficients": "ligand", "history_prior": True,
                                               "prior_shape": "anisotropic"}, "energy"),
    # Its ablation: the same Langevin dynamics in the well alone, the learned force set to zero
    # (friction, kT and the velocity map still learned).
    "SDE + all + history prior, no learned force": ({"friction": 0.5, "noise": "fdt", "method": "baoab",
                                                     "coefficients": "ligand", "history_prior": True,
                                                     NO_LEARNED_FORCE: True}, "energy"),
    # Trained by the likelihood of the next snapshot under the Gaussian one-step transition
    # (loss="transition": the force held over the interval, no rollout), instead of the energy
    # score of rollouts: the chosen well model, the same with its learned force, and the Langevin
    # model without a well.
    "SDE + all + anisotropic history prior, no learned force, transition likelihood": (
        {"friction": 0.5, "noise": "fdt", "method": "baoab", "coefficients": "ligand", "history_prior": True,
         "prior_shape": "anisotropic", NO_LEARNED_FORCE: True}, "transition"),
    "SDE + all + anisotropic history prior, transition likelihood": (
        {"friction": 0.5, "noise": "fdt", "method": "baoab", "coefficients": "ligand", "history_prior": True,
         "prior_shape": "anisotropic"}, "transition"),
    "SDE + all (Langevin), transition likelihood": (
        {"friction": 0.5, "noise": "fdt", "method": "baoab", "coefficients": "ligand"}, "transition"),
}
CONFIGS.update({name: ("neuralmd_sde", options) for name, (options, _) in ABLATION.items()})


class ZeroForce(nn.Module):
    """A force field whose force is always zero, encoding the protein like the one it replaces
    (the ablation of a prior's own dynamics)."""

    def __init__(self, replaced: nn.Module) -> None:
        super().__init__()
        self.replaced = replaced

    def encode_protein(self, data):
        return self.replaced.encode_protein(data)

    def forward(self, data, x, protein=None):
        return torch.zeros_like(x)


def training_loss(method: str) -> str:
    """The loss a method trains with in the benchmarks (Eq. 13's MAE unless the ablation says)."""
    return ABLATION[method][1] if method in ABLATION else "mae"


def method_config(method: str, *, hidden: int = 128, layers: int = 5, cutoff: float = 5.0,
                  velocity_mapping: bool = False, kT: float | None = None, friction: float | None = None,
                  overrides: dict | None = None) -> dict:
    """The model config of ``method``: ``neuralmd train model=...``'s composed ``model`` node, as a
    dict, with the benchmark's overrides.

    ``hidden``, ``layers``, ``cutoff`` size the BindingNet (paper Table 5 by default; it gets the
    default 32 radial functions); ``velocity_mapping`` switches NeuralMD's learned initial-velocity
    map (section 4.3) on or off; ``kT`` replaces the initial learned kT of the ablation's
    fluctuation-dissipation variants, ``friction`` the initial friction of its variants with one.
    ``overrides`` (config key -> value, ``None`` drops the key) come last, e.g. ``{"method": "euler"}``.
    """
    if method not in CONFIGS:
        raise ValueError(f"unknown method {method!r}; choose from {tuple(CONFIGS)}")
    name, options = CONFIGS[method]
    model = OmegaConf.to_container(compose("train", [f"model={name}"]).model, resolve=True)
    changes = dict(options)
    if "force_field" in model:
        changes.update({"force_field.hidden": hidden, "force_field.num_layers": layers,
                        "force_field.cutoff": cutoff, "force_field.num_rbf": None})
    if "velocity_mapping" in model:
        changes["velocity_mapping"] = velocity_mapping
    if method in ABLATION and kT is not None and changes.get("noise") == "fdt":
        changes["kT"] = kT
    if method in ABLATION and friction is not None and "friction" in changes:
        changes["friction"] = friction
    changes.update(overrides or {})
    for key, value in changes.items():
        parent, _, leaf = key.rpartition(".")
        node = model[parent] if parent else model
        if value is None:
            node.pop(leaf, None)            # the constructor's default, defined in the library
        else:
            node[leaf] = value
    return model


def build(method: str, **sizes) -> nn.Module:
    """One dynamics model of ``method`` on a fresh BindingNet (keywords: :func:`method_config`)."""
    config = method_config(method, **sizes)
    no_force = config.pop(NO_LEARNED_FORCE, False)
    model = build_model(config)[0]
    if no_force:
        model.force_field = ZeroForce(model.force_field)
    return model
