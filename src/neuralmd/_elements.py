"""Facts of the periodic table shared by several subpackages (no dependencies, cheap to import)."""

#: Covalent radii in Å indexed by atomic number (Z = 1..96), from B. Cordero et al., "Covalent
#: radii revisited", Dalton Trans. 2008, 2832-2838. Where that paper gives several values the one
#: kept is sp3 carbon (0.76) and low-spin Mn, Fe, Co. Index 0 is a placeholder, never a radius.
COVALENT_RADII: tuple[float, ...] = (
    float("nan"),
    0.31, 0.28,                                                            # H-He
    1.28, 0.96, 0.84, 0.76, 0.71, 0.66, 0.57, 0.58,                        # Li-Ne
    1.66, 1.41, 1.21, 1.11, 1.07, 1.05, 1.02, 1.06,                        # Na-Ar
    2.03, 1.76, 1.70, 1.60, 1.53, 1.39, 1.39, 1.32, 1.26, 1.24, 1.32, 1.22,  # K-Zn
    1.22, 1.20, 1.19, 1.20, 1.20, 1.16,                                    # Ga-Kr
    2.20, 1.95, 1.90, 1.75, 1.64, 1.54, 1.47, 1.46, 1.42, 1.39, 1.45, 1.44,  # Rb-Cd
    1.42, 1.39, 1.39, 1.38, 1.39, 1.40,                                    # In-Xe
    2.44, 2.15,                                                            # Cs-Ba
    2.07, 2.04, 2.03, 2.01, 1.99, 1.98, 1.98, 1.96, 1.94, 1.92, 1.92, 1.89,  # La-Er
    1.90, 1.87, 1.87,                                                      # Tm-Lu
    1.75, 1.70, 1.62, 1.51, 1.44, 1.41, 1.36, 1.36, 1.32,                  # Hf-Hg
    1.45, 1.46, 1.48, 1.40, 1.50, 1.50,                                    # Tl-Rn
    2.60, 2.21, 2.15, 2.06, 2.00, 1.96, 1.90, 1.87, 1.80, 1.69,            # Fr-Cm
)
