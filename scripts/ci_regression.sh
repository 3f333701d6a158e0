#!/usr/bin/env bash
# The CI regression gate (issue 8). .ci/run calls it in one line, after scripts/test.sh:
#     bash scripts/ci_regression.sh
# 1. runs the gate's benchmarks GATE_PROCESSES times (separate processes: the run, not the
#    repetition, is what a busy host's slow phases hit) and records them, plus whatever
#    `pybench run` left in build/ci-results (the --quick suites .ci/run runs), into the
#    history kept in the repo (perf/history/);
# 2. compares them with the last committed baseline of this machine kind
#    (`pybench compare --normalize torch --metric cpu`, thresholds from
#    perf/thresholds.toml); a significant regression prints the table and fails;
# 3. builds the dashboard into build/dashboard/ (and the Markdown summary into
#    build/ci-regression/summary.md, appended to $GITHUB_STEP_SUMMARY when set).
# Refresh the committed baseline (after an intended change, or for a new machine kind):
#     bash scripts/ci_regression.sh --refresh-baseline   # then git add/commit what it prints
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
HISTORY=perf/history
OUT=build/ci-regression
PROCESSES=${GATE_PROCESSES:-3}
# Single-threaded CPU time relative to PyTorch's in the same run: what survives a shared,
# noisy host (scripts/aa_power.py measures the false-alarm rate and power of exactly this).
GATE_RUN=(run --suite gram --filter 'grid:c(64_hw3136|128_hw784|128_hw3136)/' --threads 1
          --repetitions 10 --min-time 0.02 --warmup 0.02)

machine=$("$PY" -c 'from pybench.machine import machine_info
from pybench.results.store import machine_id
print(machine_id(machine_info()))')
echo "ci_regression: machine kind $machine"

gate_run() {  # gate_run OUTPUT_DIR N: one recorded run, its log kept, its tail shown on failure
  mkdir -p "$1"
  if ! "$PY" -m pybench "${GATE_RUN[@]}" --output "$1" --history "$HISTORY" >"$1/run-$2.log" 2>&1; then
    tail -n 30 "$1/run-$2.log"
    echo "ci_regression: the gate's benchmark run failed (log: $1/run-$2.log)"
    exit 2
  fi
  grep '^history: ' "$1/run-$2.log"
}

if [[ "${1:-}" == "--refresh-baseline" ]]; then
  git diff --quiet HEAD -- pybench csrc || echo "ci_regression: warning: uncommitted changes in pybench/ or csrc/"
  for i in $(seq "$PROCESSES"); do gate_run "$OUT/baseline" "$i"; done
  dir="$HISTORY/$machine/$(git rev-parse HEAD | cut -c1-12)"
  mapfile -t old < <(git ls-files -- "$HISTORY/$machine" | grep -v -e "^$dir/" -e '/machine.json$' || true)
  echo "ci_regression: new baseline in $dir; commit it with:"
  if ((${#old[@]})); then echo "    git rm -q ${old[*]}"; fi
  echo "    git add $HISTORY/$machine/machine.json $dir && git commit -m 'Refresh the CI benchmark baseline'"
  exit 0
fi

rm -rf "$OUT" && mkdir -p "$OUT/new"
# The committed baseline is looked up before this run adds its own files to the history.
mapfile -t baseline < <("$PY" -c 'import sys
from pybench.results.store import committed_baseline
print("\n".join(map(str, committed_baseline(sys.argv[1], sys.argv[2]))))' "$HISTORY" "$machine")

for i in $(seq "$PROCESSES"); do gate_run "$OUT/new" "$i"; done
shopt -s nullglob
extra=(build/ci-results/*.json)
if ((${#extra[@]})); then
  "$PY" -m pybench history add "${extra[@]}" --history "$HISTORY" >/dev/null
  echo "ci_regression: recorded ${#extra[@]} --quick result file(s) from build/ci-results"
fi

status=0
if ((${#baseline[@]} == 0 || ${#baseline[0]} == 0)); then
  echo "ci_regression: no committed baseline for machine kind $machine in $HISTORY: gate" \
       "skipped. Record one with: bash scripts/ci_regression.sh --refresh-baseline"
else
  echo "ci_regression: baseline ${baseline[0]%/*} (${#baseline[@]} runs)"
  # A copy: when HEAD is the baseline's commit, this run's files land in the same folder.
  mkdir -p "$OUT/base" && cp "${baseline[@]}" "$OUT/base/"
  # shellcheck disable=SC2086  # PYBENCH_GATE_ARGS is a list of extra flags
  "$PY" -m pybench compare "$OUT/base" "$OUT/new" --normalize torch --metric cpu \
    --config perf/thresholds.toml --markdown "$OUT/summary.md" \
    ${PYBENCH_GATE_ARGS:-} || status=$?
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then cat "$OUT/summary.md" >> "$GITHUB_STEP_SUMMARY"; fi
fi
"$PY" -m pybench dashboard "$HISTORY" -o build/dashboard
if ((status == 1)); then
  echo "ci_regression: FAILED: significant regression against the committed baseline (table above)"
elif ((status != 0)); then
  echo "ci_regression: compare failed with status $status"
fi
exit "$status"
