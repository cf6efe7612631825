"""Reference poses: what other trajectories of the same complex say about where its ligand sits.

With a rigid pocket, every trajectory of one protein-ligand complex samples the same equilibrium.
The first snapshots of one trajectory see little of it (a ligand that turns or shifts later in the
pocket has not yet done so); the other trajectories of the complex, seen whole in training, see
more. :func:`with_reference_poses` attaches their ligand poses to a record as
``ligand.reference_pos`` (N_l, R, 3), each trajectory superposed onto the record's protein first,
so that the poses live in the record's frame and turn with it; :func:`attach_reference_poses` does
it for a whole split, finding each record's complex among the source trajectories (the same ligand
atoms and residues), never the record itself, and pads every record's poses with NaN rows to the
split's largest count, so that records of complexes with different numbers of runs batch together
(the history methods skip the padding). The history methods pool them with
the snapshots they observe (MeanPose, Stationary, Ornstein-Uhlenbeck and the history well of
``NeuralMD(history_prior=True)``).

>>> from neuralmd.data import synthetic_trajectories
>>> record = synthetic_trajectories(1, seed=0, n_snapshots=6)[0]
>>> other = record.clone()                 # a second trajectory of the same complex
>>> other["ligand"].pos = other["ligand"].pos.flip(1)
>>> with_reference_poses(record, [other, other])["ligand"].reference_pos.shape[1]   # 2 x 6 poses
12
>>> other.id = "second run"
>>> [r["ligand"].reference_pos.shape[1] for r in attach_reference_poses([record, other], [record, other])]
[6, 6]
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

#: Largest backbone RMSD (Å) after superposition for two trajectories to count as one rigid pocket.
MAX_POCKET_RMSD = 0.5


def superpose(mobile: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """The proper rotation R (3, 3) and translation t (3,) minimising ``|mobile @ R.T + t - target|``
    over corresponding points (M, 3) (Kabsch, without reflection)."""
    mobile_centre, target_centre = mobile.mean(0), target.mean(0)
    cross = (mobile - mobile_centre).T @ (target - target_centre)
    u, _, vt = torch.linalg.svd(cross)
    flip = torch.ones(3, dtype=cross.dtype, device=cross.device)
    flip[-1] = torch.sign(torch.linalg.det(u @ vt))        # a proper rotation, never a mirror image
    rotation = ((u * flip) @ vt).T                         # V diag(1, 1, d) U^T
    return rotation, target_centre - mobile_centre @ rotation.T


def with_reference_poses(record: Any, others: Sequence[Any], *, max_pocket_rmsd: float = MAX_POCKET_RMSD) -> Any:
    """A copy of ``record`` with ``ligand.reference_pos`` (N_l, R, 3): every ligand snapshot of the
    trajectories ``others`` of the same complex, each moved by the rigid motion that superposes its
    protein backbone onto ``record``'s.

    Raises one ``ValueError`` naming the trajectory when another one is not of the same complex
    (other ligand atoms or residues) or its pocket differs from ``record``'s by more than
    ``max_pocket_rmsd`` Å backbone RMSD after superposition (the poses would then describe another
    pocket), and when ``others`` is empty. ``record`` itself is not changed.
    """
    if len(others) == 0:
        raise ValueError(f"complex {record.id}: no trajectories to take reference poses from")
    target = record["residue"].backbone.reshape(-1, 3).double()
    poses = []
    for other in others:
        name = f"complex {record.id}: reference trajectory {other.id}"
        if not torch.equal(other["ligand"].z, record["ligand"].z):
            raise ValueError(f"{name} has other ligand atoms; reference poses must be of the same ligand")
        if not torch.equal(other["residue"].type, record["residue"].type):
            raise ValueError(f"{name} has other protein residues; reference poses must be of the same pocket")
        mobile = other["residue"].backbone.reshape(-1, 3).double()
        rotation, shift = superpose(mobile, target)
        rmsd = float((mobile @ rotation.T + shift - target).square().sum(-1).mean().sqrt())
        if rmsd > max_pocket_rmsd:
            raise ValueError(f"{name}: its backbone differs by {rmsd:.2f} Å RMSD after superposition "
                             f"(at most {max_pocket_rmsd:g} Å): not the same rigid pocket")
        poses.append(other["ligand"].pos.double() @ rotation.T + shift)
    out = record.clone()
    out["ligand"].reference_pos = torch.cat(poses, dim=1).to(record["ligand"].pos.dtype)
    return out


def same_complex(a: Any, b: Any) -> bool:
    """Whether records ``a`` and ``b`` hold the same ligand atoms and protein residues (in order)."""
    # torch.equal is False for tensors of different shapes
    return torch.equal(a["ligand"].z, b["ligand"].z) and torch.equal(a["residue"].type, b["residue"].type)


def attach_reference_poses(records: Sequence[Any], sources: Sequence[Any], *,
                           max_pocket_rmsd: float = MAX_POCKET_RMSD) -> list[Any]:
    """Copies of ``records``, each with the reference poses (:func:`with_reference_poses`) of every
    trajectory in ``sources`` of its complex (:func:`same_complex`) other than itself (by id), e.g.
    a split's records with the training split as ``sources``, padded with NaN rows to the largest
    count among them so that they batch. One ``ValueError`` naming the complex when a record has no
    such trajectory; nothing is returned then."""
    out = []
    for record in records:
        others = [s for s in sources if s.id != record.id and same_complex(s, record)]
        if not others:
            raise ValueError(f"complex {record.id}: none of the {len(sources)} source trajectories is another "
                             "trajectory of its complex (the same ligand atoms and residues): no reference poses")
        out.append(with_reference_poses(record, others, max_pocket_rmsd=max_pocket_rmsd))
    most = max((r["ligand"].reference_pos.shape[1] for r in out), default=0)
    for record in out:
        poses = record["ligand"].reference_pos
        if poses.shape[1] < most:
            padding = poses.new_full((poses.shape[0], most - poses.shape[1], 3), float("nan"))
            record["ligand"].reference_pos = torch.cat([poses, padding], dim=1)
    return out
