#!/usr/bin/env bash
# Issue 4 experiment on ml-100k (H=20 paper tasks), small in-project models, CPU, seed 0.
set -x
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
T=/tmp/ml-h20; R=/work/runs/reasoner-small; E=/work/runs/exp
cd /work/main
date
time verbalrec train sft-verbalizer --tasks $T --model $R --out $E/verb-sft --kind rewrite --max-tasks 1200 \
  --max-steps 150 --batch-size 8 --max-prompt-length 640 --max-length 1024 --learning-rate 1e-3 --save-steps 50 \
  --logging-steps 10 --cpu-threads 1 --use-chat-template false
date
time verbalrec train verbalizer --tasks $T --policy $E/verb-sft --oracle $R --out $E/stage1 --kind rewrite \
  --max-tasks 400 --max-steps 40 --num-generations 4 --prompts-per-step 2 --max-prompt-length 640 \
  --max-completion-length 192 --learning-rate 5e-5 --beta 0.0 --temperature 1.0 --logging-steps 1 --save-steps 10 \
  --cpu-threads 1 --oracle-max-length 768 --use-chat-template false
date
time verbalrec eval $T --split valid --limit 200 --rankers likelihood --model $R --max-length 768 \
  --verbalizers template,heuristic,rewrite --verbalizer-model $E/verb-sft --baseline template/likelihood \
  --cache $E/cache.sqlite --out $E/eval-valid-sft.json --quiet
time verbalrec eval $T --split valid --limit 200 --rankers likelihood --model $R --max-length 768 \
  --verbalizers template,rewrite --verbalizer-model $E/stage1 --baseline template/likelihood \
  --cache $E/cache.sqlite --out $E/eval-valid-stage1.json --quiet
date
