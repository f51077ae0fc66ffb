#!/usr/bin/env bash
# Regenerate every published artefact of the quick grid (README "Published results") once
# scripts/republish_grid.sh has finished: the leaderboards and the site from the shipped records;
# the simulated error rates at the published components (error-rates.md); the measured targets of
# issues 24 and 25 (targets.md); the label-entropy study (computed once, its records then shipped in
# leaderboards/records-label-entropy and reused); vilref-comparison.md from both; the figures
# that need checkpoints (t-SNE, Grad-CAM: a checkpoint missing from the run cache is pretrained
# again, identically); the site screenshot.
#
#   bash scripts/publish_grid.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH:-.venv/bin/bench}
python=${PYTHON:-.venv/bin/python}
grids=(leaderboards/records/quick-*/)
[ ${#grids[@]} -eq 1 ] || { echo "publish_grid.sh: expected one grid under leaderboards/records, found ${#grids[@]}" >&2; exit 2; }

"$bench" leaderboard --results leaderboards/records --html leaderboards/site
"$python" scripts/error_rates.py > leaderboards/error-rates.md   # the published rows take the new components
"$python" scripts/issue_targets.py > leaderboards/targets.md
if compgen -G "leaderboards/records-label-entropy/*/*.jsonl.gz" >/dev/null; then
    "$bench" records unpack --packed leaderboards/records-label-entropy --results results-label-entropy
fi
# pinned to the recipe's test splits (eval.test_scale=1, its records' protocol), whatever the profile's test scale
"$bench" study label-entropy --strategy clip,wsc --mle 0.05,0.1,0.15 --set eval.seeds=3 --set eval.test_scale=1 --workers 2 --out leaderboards
"$bench" records pack --results results-label-entropy --out leaderboards/records-label-entropy
"$python" scripts/compare_vilref.py --results "${grids[0]}" --study leaderboards/records-label-entropy \
    --out leaderboards/vilref-comparison.md
for strategy in clip wsc wsc-sa clip-resnet; do
    "$bench" plot tsne --strategy "$strategy" --dataset syn-fives
done
"$bench" plot gradcam --strategy random-init,mae,clip,wsc,mflag --dataset syn-idrid --lesion hemorrhage
"$bench" leaderboard --results leaderboards/records --html leaderboards/site  # the figures onto their task pages
"$python" scripts/screenshot_site.py leaderboards/site docs/site-overview.png
