"""Metrics of predicted ligand trajectories: point errors, validity, clashes and speed
(``_trajectory``, the paper's sections 2.3 and 2.6), proper scores of sampled ensembles
(``_ensemble``) and distributions of structural features compared with MD (``_distributions``).

Point metrics take ``pred``, ``target`` (T, N, 3) in Å and an optional ligand ``batch`` vector;
ensemble metrics take ``samples`` (K, T, N, 3). Every metric averages each complex on its own and
then the complexes with equal weight, so a batch gives the mean of what each complex gives alone.
"""
from ._distributions import (JSD_BINS, atom_rmsf, autocorrelation, centroid_displacement,
                             decorrelation_time, jensen_shannon, nearest_ca_distance, rmsd_to_reference,
                             rmsf_ratio)
from ._ensemble import (as_ensemble, crps, energy_score, energy_score_by_lag, ensemble_mean, paired_ratio_interval,
                        skill)
from ._trajectory import (COVALENT_RADII, clash_rate, covalent_radius, mae, matching, mean_l2, rmsd, rmsf,
                          snapshots_per_second, stability)

__all__ = [
    "COVALENT_RADII",
    "covalent_radius",
    "mae",
    "mean_l2",
    "rmsd",
    "matching",
    "stability",
    "rmsf",
    "clash_rate",
    "snapshots_per_second",
    "energy_score",
    "energy_score_by_lag",
    "crps",
    "skill",
    "paired_ratio_interval",
    "ensemble_mean",
    "as_ensemble",
    "atom_rmsf",
    "rmsf_ratio",
    "centroid_displacement",
    "rmsd_to_reference",
    "nearest_ca_distance",
    "jensen_shannon",
    "JSD_BINS",
    "autocorrelation",
    "decorrelation_time",
]
