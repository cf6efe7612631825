#!/usr/bin/env bash
# On a lent CUDA machine (set up as benchmarks/device_speed.sh says: .devsite/ with the pure-Python
# packages the machine lacks, here also pytest, _pytest, pluggy, iniconfig, pygments and py.py):
#   1. tests/test_cuda.py, the CUDA path against the CPU one (checks.log);
#   2. training throughput of the code in BASE (default .base: src/ and benchmarks/ of daa678a, the
#      code before issue 14) and of this tree, eager, then this tree's ODE model compiled
#      (benchmarks/gpu_training.py; base_training.json, training.json).
# Writes under ${OUT:-/tmp/neuralmd-gpu}. docs/results.md 2.6.
set -o pipefail
export OUT=${OUT:-/tmp/neuralmd-gpu}
BASE=${1:-.base}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD/.devsite:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
python3 -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__)"
# no:logging: torch's captured DEBUG records would bury a failure's message in the output's tail
python3 -m pytest -q -p no:cacheprovider -p no:logging --tb=short tests/test_cuda.py > "$OUT/checks.log" 2>&1
tail -40 "$OUT/checks.log"
cp benchmarks/gpu_training.py "$BASE/benchmarks/"
(cd "$BASE" && PYTHONPATH="$PWD/src:$OLDPWD/.devsite:$PWD" python3 -m benchmarks.gpu_training \
    --t4l "$OLDPWD/benchmarks/data/t4l.hdf5" --json "$OUT/base_training.json") 2>&1 | tee "$OUT/base_training.log"
python3 -m benchmarks.gpu_training --json "$OUT/training.json" --compile "NeuralMD ODE" 2>&1 \
    | grep -v "tensor meta failed" | tee "$OUT/training.log"
