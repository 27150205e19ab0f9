#!/usr/bin/env bash
set -x
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
T=/tmp/ml-h20; R=/work/runs/reasoner-small; E=/work/runs/exp
cd /work/main
date
time verbalrec train reasoner --tasks $T --policy $R --verbalizer $E/stage1 --out $E/stage2 --max-tasks 200 \
  --max-steps 40 --num-generations 4 --prompts-per-step 4 --max-prompt-length 768 --max-completion-length 16 \
  --learning-rate 1e-4 --beta 0.0 --logging-steps 1 --save-steps 20 --cpu-threads 1
date
for M in $R $E/stage2; do
  time verbalrec eval $T --split valid --limit 200 --rankers generative,likelihood --model $M --max-length 768 \
    --verbalizers template,rewrite --verbalizer-model $E/stage1 --baseline template/likelihood \
    --cache $E/cache.sqlite --out $E/eval-valid-reasoner-$(basename $M).json --quiet
done
date
