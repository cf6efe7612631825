"""Draw docs/figures/frames.png: the three levels of vector frames on a toy complex.

Run: python docs/figures/make_frames_figure.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from neuralmd.frames import backbone_frames, edge_frames, residue_frames

COLOURS = ("tab:red", "tab:green", "tab:blue")


def _draw_frame(ax, origin, frame, scale=1.0):
    for axis, colour in zip(frame, COLOURS):
        ax.quiver(*origin, *(scale * axis), color=colour, linewidth=1.5, arrow_length_ratio=0.2)


def main() -> None:
    torch.manual_seed(0)
    ca = torch.cumsum(3.8 * torch.nn.functional.normalize(torch.randn(6, 3), dim=-1), dim=0)
    n = ca + torch.tensor([-1.2, 0.6, 0.3])
    c = ca + torch.tensor([1.3, 0.5, -0.4])
    ligand = ca.mean(0) + torch.tensor([[0.0, 4.0, 0.0], [1.4, 4.5, 0.3], [0.5, 5.8, -0.6]])
    edge = torch.tensor([[0], [1]])

    fig = plt.figure(figsize=(12, 4))
    titles = ("atom level (ligand, Eq. 3)", "backbone level (protein, Eq. 4)",
              "residue level (complex, Eq. 5)")
    for k, title in enumerate(titles):
        ax = fig.add_subplot(1, 3, k + 1, projection="3d")
        ax.plot(*ca.T, "-o", color="grey", markersize=3, label="C-alpha trace")
        ax.scatter(*ligand.T, color="black", s=25, label="ligand atoms")
        if k == 0:
            _draw_frame(ax, ligand[1], edge_frames(ligand, edge)[0], 1.5)
        elif k == 1:
            for i, frame in enumerate(backbone_frames(n, ca, c)):
                _draw_frame(ax, ca[i], frame)
        else:
            for i, frame in enumerate(residue_frames(ca, torch.zeros(6, dtype=torch.long))):
                _draw_frame(ax, ca[i], frame)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="lower center", ncol=2)
    fig.text(0.5, 0.93, "e1 red, e2 green, e3 (pseudo-vector) blue", ha="center")
    out = Path(__file__).with_name("frames.png")
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
