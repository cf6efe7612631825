#!/usr/bin/env bash
# The GPU figures of docs/results.md 2.5, on a lent CUDA machine whose Python has torch,
# torch-geometric, e3nn, torchdiffeq and h5py but not the pure-Python omegaconf, antlr4, hydra,
# torchsde and trampoline: copy those from a local environment into .devsite/ first, e.g.
#   for d in omegaconf antlr4 hydra torchsde trampoline; do cp -r $SITE/$d .devsite/; done
# Writes under ${OUT:-/tmp/neuralmd-gpu}: speed_cuda.{json,log} (every table of benchmarks/speed.py with
# the float32 / TF32 / bf16 precision table) and compiled.log (the force field compiled, with and
# without CUDA graphs). With --compiled-only, only the latter. With --baseline DIR (a copy inside this
# checkout of another version's src/ and benchmarks/, e.g. the code before issue 14:
#   git worktree add --detach /tmp/base daa678a && mkdir .base && cp -r /tmp/base/{src,benchmarks} .base/
# with .base in .git/info/exclude and carried), that version's benchmarks/speed.py runs first on the same
# machine and writes base_cuda.{json,log}, so the two trees are compared on one card.
set -o pipefail
export OUT=${OUT:-/tmp/neuralmd-gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD/.devsite:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
python3 -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__)"
if [ "$1" = "--baseline" ]; then
  (cd "$2" && PYTHONPATH="$PWD/src:$OLDPWD/.devsite:$PWD" python3 -m benchmarks.speed --device cuda \
      --t4l "$OLDPWD/benchmarks/data/t4l.hdf5" --json "$OUT/base_cuda.json") 2>&1 | tee "$OUT/base_cuda.log"
  shift 2
fi
if [ "$1" != "--compiled-only" ]; then
  python3 -m benchmarks.speed --device cuda --json "$OUT/speed_cuda.json" 2>&1 | tee "$OUT/speed_cuda.log"
fi
# (inductor's autotuning warnings "Constructing input/output tensor meta failed" dropped)
python3 - <<'PY' 2>&1 | grep -v "tensor meta failed" | tee "$OUT/compiled.log"
import json, os, torch
from benchmarks.speed import precision_table
rows = precision_table(torch.device("cuda"), ["float32"], compiled=True, repeats=20, snapshots={1: 20, 32: 10})
json.dump(rows, open(os.path.join(os.environ["OUT"], "compiled.json"), "w"), indent=1)
PY
