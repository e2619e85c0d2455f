#!/usr/bin/env bash
# One prepared check for a machine with a GPU (issue 18, item 6): the tests that exercise devices, the
# sweep benchmark and the default phase diagram, each bounded by a timeout, and one JSON of timings.
# Nothing in CI depends on it.
#
#   bash benchmarks/gpu_check.sh                 # on a GPU machine (JAX with CUDA; exits 2 without)
#   bash benchmarks/gpu_check.sh --cpu           # dry check on any CPU: the same steps at smoke size
#   bash benchmarks/gpu_check.sh --out DIR       # where the JSON, the logs and the runs go
#
# PYTHON (default .venv/bin/python, else python3) must have this project and a JAX that sees the GPU
# (e.g. pip install -e ".[test,bench]" "jax[cuda12]==0.10.1"). The whole script is bounded by the
# step timeouts below: 30 + 120 + 210 + 120 s = 8 min at most (the benchmark's PyTorch contenders
# run on the CPU; a step past its limit is recorded with exit 124 and the next one runs). With --cpu
# the limits are 4x (a dry run on a small CPU is not held to the GPU budget). Output: DIR/gpu_check.json with, per step,
# its exit status and wall seconds, the JAX devices, and the benchmark's and the phase diagram's own
# numbers (copied from their records); DIR/logs/<step>.log.
set -u
cd "$(dirname "$0")/.."

MODE=gpu
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) MODE=cpu ;;
    --out) OUT="$2"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (expected --cpu, --out DIR)" >&2; exit 64 ;;
  esac
  shift
done
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT="${OUT:-${OUT_DIR:-runs/gpu_check}}"
mkdir -p "$OUT/logs" || { echo "gpu_check.sh: cannot create $OUT" >&2; exit 73; }
STEPS_TSV="$OUT/steps.tsv"
: > "$STEPS_TSV"

SCALE=1
if [ "$MODE" = cpu ]; then
  export JAX_PLATFORMS=cpu
  SMOKE=(--smoke)
  SCALE=4  # a dry run on a small (possibly shared) CPU: the GPU budget does not apply
else
  export JAX_PLATFORMS="${JAX_PLATFORMS:-cuda,cpu}"  # tests/conftest.py keeps a set value
  SMOKE=()
fi

# run_step NAME TIMEOUT_S CMD...: run CMD under a timeout (x SCALE), log it, record "name rc seconds".
run_step() {
  local name="$1" limit=$(( $2 * SCALE )); shift 2
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" > "$OUT/logs/$name.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  local sec
  sec=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$sec" "$limit" >> "$STEPS_TSV"
  echo "gpu_check: $name: exit $rc in $sec s (limit $limit s)"
}

run_step devices 30 "$PYTHON" -c "import jax, json; print(json.dumps({'backend': jax.default_backend(), 'devices': [str(d) for d in jax.devices()], 'jax': jax.__version__}))"
if [ "$MODE" = gpu ] && ! grep -q '"backend": "gpu"' "$OUT/logs/devices.log"; then
  echo "gpu_check.sh: JAX sees no GPU ($(tail -1 "$OUT/logs/devices.log")); install a CUDA JAX, or run with --cpu for the dry check" >&2
  exit 2
fi
# The tests that exercise devices: sharding over several devices, the device split, the compilation
# cache across processes, the many-process runtime.
run_step tests 120 "$PYTHON" -m pytest -q -x -p no:cacheprovider tests/test_cache.py \
  tests/test_sweep.py -k "device or devices or shard or cache or compile or process or distributed" \
  $( [ -f tests/test_distributed.py ] && echo tests/test_distributed.py )
run_step benchmark 210 "$PYTHON" -m benchmarks.sweep "${SMOKE[@]}" --json "$OUT/bench.json"
run_step phase_diagram 120 "$PYTHON" -m sims.phase_diagram "${SMOKE[@]}" --workdir "$OUT/runs/phase_diagram" --replace

"$PYTHON" - "$OUT" "$MODE" <<'EOF'
import json, os, sys
out, mode = sys.argv[1], sys.argv[2]
steps = {}
for line in open(os.path.join(out, "steps.tsv")):
  name, rc, sec, limit = line.rstrip("\n").split("\t")
  steps[name] = {"exit": int(rc), "seconds": round(float(sec), 2), "limit_s": int(limit)}
def load(path):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None
devices = None
try:
  devices = json.loads(open(os.path.join(out, "logs", "devices.log")).read().strip().splitlines()[-1])
except (OSError, ValueError, IndexError):
  pass
bench = load(os.path.join(out, "bench.json")) or {}
keep = [k for k in bench if k.endswith(("_seconds", "_model_steps_per_s", "_fraction_of_peak",
                                         "_speedup_over_torch_peer")) or k in (
    "peak_gflops", "models", "steps", "devices", "torch_peer", "torch_stacked_compiled_skipped")]
pd = os.path.join(out, "runs", "phase_diagram")
summary = load(os.path.join(pd, "summary.json")) or {}
meta = load(os.path.join(pd, "meta.json")) or {}
timing = {k: v for k, v in summary.items() if k.endswith("_time_s") or k.endswith("_compile_s")}
timing.update({k: v for k, v in meta.items() if "wall" in k or k.endswith("_time_s")})
record = {"mode": mode, "devices": devices, "steps": steps,
          "total_seconds": round(sum(s["seconds"] for s in steps.values()), 2),
          "benchmark": {k: bench[k] for k in keep}, "phase_diagram": timing,
          "ok": all(s["exit"] == 0 for s in steps.values())}
tmp = os.path.join(out, ".gpu_check.json.tmp")
with open(tmp, "w") as f:
  json.dump(record, f, indent=2)
os.replace(tmp, os.path.join(out, "gpu_check.json"))
print(f"gpu_check: wrote {os.path.join(out, 'gpu_check.json')} (all steps passed: {record['ok']})")
sys.exit(0 if record["ok"] else 1)
EOF
