"""``python -m neuralmd.cli`` (what ``torchrun ... -m neuralmd.cli train`` runs on every rank)."""
import sys

from . import main

sys.exit(main())
