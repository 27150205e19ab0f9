#!/usr/bin/env bash
# LangPTune on ml-100k (issue 6). 2 shared CPU cores, 1 torch thread.
set -euo pipefail
export PYTHONPATH=src OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
python -m verbalrec.cli tasks build ml-100k --preset paper --history-len 20 --out /tmp/lpt-ml-h20
# writer: the small in-project model warm-started as a reasoner (/work/runs/reasoner-small, 1.7M params);
# embedding reasoner: all-MiniLM-L6-v2 (shipped copy), frozen; reward: untruncated NDCG over the catalogue, seen masked
python -m verbalrec.cli langptune --tasks /tmp/lpt-ml-h20 --writer /work/runs/reasoner-small --out /tmp/lpt-run1 \
  --max-steps 120 --num-generations 4 --prompts-per-step 2 --max-completion-length 96 --learning-rate 2e-4 \
  --logging-steps 5 --save-steps 40 --cpu-threads 1 --eval-split test --eval-limit 300 --seed 0
cp /tmp/lpt-run1/langptune.json docs/results/langptune/ml100k-h20-small-test300.json
# variant (started, then stopped at step ~25 to free the shared CPU; not measured): add
#   --contrastive-every 10 --contrastive-lr 2e-5 --contrastive-batch 32 --max-steps 60 --out /tmp/lpt-run2
# re-evaluation of the finished run (adds the paired trained-vs-zero-shot Δ%; same profiles, greedy)
python -m verbalrec.cli langptune --tasks /tmp/lpt-ml-h20 --writer /work/runs/reasoner-small --out /tmp/lpt-run1 \
  --skip-train true --max-completion-length 96 --eval-split test --eval-limit 300 --seed 0
cp /tmp/lpt-run1/langptune.json docs/results/langptune/ml100k-h20-small-test300.json
