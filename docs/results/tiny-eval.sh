#!/usr/bin/env bash
set -x
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
cd /work/main
time verbalrec train warmstart --tasks /tmp/ml-h20 --out /work/runs/reasoner-tiny --size tiny --verbalizers template,heuristic \
  --max-length 768 --max-tasks 1600 --max-steps 200 --batch-size 8 --learning-rate 5e-3 --save-steps 100
time verbalrec eval /tmp/ml-h20 --limit 100 --rankers label,generative,likelihood --model /work/runs/reasoner-tiny --max-length 768 \
  --verbalizers template,heuristic,zero-shot,rewrite,action --verbalizer-model /work/runs/reasoner-tiny \
  --baseline template/label --cache /work/runs/tiny-cache.sqlite --out /work/runs/tiny-eval.json --quiet
