#!/usr/bin/env bash
# Re-run, with full output, the four portable tests that failed on the lent H200
# (benchmarks/results/gpu_portable_tests.md), for the next GPU session.
#
# Here (a checkout with the shared assets): python -m benchmarks._gpu_carry   (builds .gpu_carry/)
# There (run tool, carry [".gpu_carry"], timeout_s 300):  bash benchmarks/gpu_portable_rerun.sh
# Writes $OUT/gpu_portable_rerun.log (pytest -vv, long tracebacks with locals, every assertion's
# full text) and $OUT/gpu_portable_rerun.xml (JUnit); each test is run a second time with
# XLA's GPU autotuning and TF32-style matmul precision pinned to float32 ("highest"), so a
# precision cause shows as a pass in the second run and the same failure otherwise.
set -u -o pipefail
OUT=${OUT:-/tmp/gpu_portable_rerun}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target /tmp/site .gpu_carry/*.whl || { echo "error: no .gpu_carry/ wheels (run python -m benchmarks._gpu_carry here first)"; exit 2; }
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
TESTS=(
  "tests/schedules/test_linear.py::test_matches_course_rule_before_at_and_after_tau"
  "tests/callbacks/test_swap_averaged.py::test_validation_uses_the_averages_and_raw_weights_come_back_exactly"
  "tests/initializers/test_delta_orthogonal.py::test_conv_layer_preserves_norm_at_init"
  "tests/initializers/test_lsuv.py::test_every_layer_variance_within_tol"
)
{
  nvidia-smi -L
  git log -1 --format='commit %H' 2>/dev/null || echo "commit: not a git checkout"
  python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
  echo "== default precision =="
  python3 -m pytest -p no:cacheprovider -vv -rA --tb=long --showlocals -o truncation_limit_lines=0 \
      -o truncation_limit_chars=0 --junitxml="$OUT/gpu_portable_rerun.xml" "${TESTS[@]}"
  echo "== JAX_DEFAULT_MATMUL_PRECISION=highest =="
  JAX_DEFAULT_MATMUL_PRECISION=highest python3 -m pytest -p no:cacheprovider -vv -rA --tb=long \
      --showlocals "${TESTS[@]}"
} 2>&1 | tee "$OUT/gpu_portable_rerun.log"
