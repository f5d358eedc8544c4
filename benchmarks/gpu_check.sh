#!/usr/bin/env bash
# Optional GPU check of the brian2cuda back-end (benchmarks/bench_gpu.py); never run by CI.
# Needs .whl/ (brian2 2.10.1, brian2cuda 1.0b1; a make .deb used only if make is missing),
# nvcc and a GPU. Fill .whl/ on a machine with internet:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl brian2==2.10.1 brian2cuda==1.0b1
# Run from anywhere: bash benchmarks/gpu_check.sh [bench_gpu.py options]
set -o pipefail
cd "$(dirname "$0")/.." || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore::SyntaxWarning
if ! command -v make >/dev/null && ls .whl/make_*.deb >/dev/null 2>&1; then
    dpkg -x .whl/make_*.deb /tmp/make-deb && export PATH=/tmp/make-deb/usr/bin:$PATH
fi
if [ ! -x "${CUDA_PATH:-/none}/bin/nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDA_PATH=/usr/local/cuda
fi
[ -n "$CUDA_PATH" ] && export PATH=$CUDA_PATH/bin:$PATH
export OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
{ echo "tools: $(command -v make g++ nvcc nvidia-smi | tr '\n' ' ')"
  python3 benchmarks/bench_gpu.py --json "$OUT/gpu.jsonl" --budget 420 "$@"; } 2>&1 | tee "$OUT/gpu.log"
