#!/usr/bin/env bash
# Republish the quick grid (README "Published results") so that no finished record is lost:
# a background loop packs the records into leaderboards/records every few minutes and commits only
# that folder, so a session that stops mid-grid leaves every finished record on the branch, and the
# grid resumes on any machine (`bench run` skips records it has; packed records are unpacked first).
#
#   bash scripts/republish_grid.sh [RESULTS=results] [EVERY_S=600]  > republish.log 2>&1 &
#   SEEDS=10 bash scripts/republish_grid.sh …   # more pretraining runs per strategy: the same grid, extended
#   PACKED=leaderboards/records-next SETS="eval.test_scale=4" bash scripts/republish_grid.sh results-next
#       # a candidate design's grid, packed beside the published one (publish_grid.sh reads only
#       # leaderboards/records) until it is complete and the profile adopts it
set -euo pipefail
cd "$(dirname "$0")/.."
results=${1:-results}
every=${2:-600}
seeds=${SEEDS:-5}
packed=${PACKED:-leaderboards/records}
sets=()
for item in ${SETS:-}; do sets+=(--set "$item"); done
bench=${BENCH:-.venv/bin/bench}

commit_records() {
    "$bench" records pack --results "$results" --out "$packed" >/dev/null
    git add "$packed"
    git commit -q -m "Grid records ($packed): $(date -u +%FT%TZ) ($1)" -- "$packed" || true
}

# records already shipped (a grid begun on another machine) are reused, not recomputed
if compgen -G "$packed/*/*.jsonl.gz" >/dev/null; then
    "$bench" records unpack --packed "$packed" --results "$results"
fi

( while sleep "$every"; do commit_records "in progress"; done ) &
committer=$!
trap 'kill "$committer" 2>/dev/null || true' EXIT

# one call: each checkpoint is evaluated on every task as soon as it is trained, so a grid stopped
# part-way leaves whole (checkpoint, records) pairs and another machine never re-pretrains for them
"$bench" run --strategy all --task ood-zsc,linear-probe,finetune,seg,geometry,loc --seeds "$seeds" --workers 2 --results "$results" "${sets[@]}"
commit_records "every task"
