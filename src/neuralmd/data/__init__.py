"""Trajectory records, the MISATO format, PyG datasets, importers and the synthetic data set.

One protein-ligand trajectory is one ``torch_geometric.data.HeteroData`` (see ``docs/design.md``):

- ``ligand.z`` (N_l,) long atomic numbers, ``ligand.mass`` (N_l,) amu, ``ligand.pos`` (N_l, T, 3) Å;
- ``residue.type`` (N_r,) long (``RESIDUE_NAMES``: MISATO's residue codes, 23 = unknown),
  ``residue.backbone`` (N_r, 3, 3) Å, rows N, CA, C; ``residue.chain`` (N_r,) long;
- ``id`` (str) and ``dt_ps`` (float, ps between snapshots);
- optionally ``ligand.reference_pos`` (N_l, R, 3) Å: poses of other runs of the complex
  (``attach_reference_poses``).

Records with the same number of snapshots T batch with ``torch_geometric.data.Batch.from_data_list``
(``ligand.batch`` and ``residue.batch`` then say which complex each atom and residue belongs to).
``validate_record`` is the one check every entry point runs; bad input raises a single
``ValueError`` that names the complex. ``neuralmd.data.openmm`` (extra ``openmm``) simulates a
complex with OpenMM and records it the same way. Data sets of several complexes name their records
``target-ligand-kk``; ``leave_target_out`` and ``leave_ligand_out`` split them across complexes.
``with_reference_poses`` / ``attach_reference_poses`` attach the ligand poses of other trajectories of
the same complex, which the history methods pool into their equilibrium.

>>> from neuralmd.data import synthetic_trajectories, validate_record
>>> data = validate_record(synthetic_trajectories(1, seed=0, n_snapshots=5)[0])
>>> data["ligand"].pos.shape[1]
5
"""
from ._complexes import (ComplexId, ComplexSplit, group_complexes, leave_ligand_out, leave_target_out, ligand_folds,
                         parse_complex_id, target_folds)
from ._datasets import MisatoDataset, SingleTrajectoryDataset
from ._mdanalysis import from_mdanalysis
from ._misato_read import MISATO_DT_PS, read_misato
from ._misato_write import write_misato
from ._record import POCKET_CUTOFF, make_record, record_from_plain, record_to_plain, validate_record
from ._reference import attach_reference_poses, same_complex, superpose, with_reference_poses
from ._splits import official_split, subset_split
from ._synthetic import simulate_binding, synthetic_trajectories
from ._tables import NUM_RESIDUE_TYPES, RESIDUE_NAMES, atomic_masses, residue_code

__all__ = [
    "read_misato", "write_misato", "MisatoDataset", "SingleTrajectoryDataset", "from_mdanalysis",
    "synthetic_trajectories", "simulate_binding", "validate_record", "make_record", "official_split",
    "subset_split", "atomic_masses", "residue_code", "RESIDUE_NAMES", "NUM_RESIDUE_TYPES", "MISATO_DT_PS",
    "POCKET_CUTOFF", "record_to_plain", "record_from_plain", "ComplexId", "ComplexSplit", "parse_complex_id",
    "group_complexes", "leave_target_out", "leave_ligand_out", "target_folds", "ligand_folds",
    "with_reference_poses", "attach_reference_poses", "same_complex", "superpose",
]
