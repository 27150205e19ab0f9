"""Run by test_multiprocess.py under ``accelerate launch --num_processes 2``: what each helper of
``verbalrec.train.distributed`` does across processes, written to OUT/rank<k>.json by each one.

usage: distributed_checks.py OUT
"""

import json
import sys
import time
from pathlib import Path

import torch

from verbalrec.train import distributed as d

out = Path(sys.argv[1])
rank = d.process_index()
seen_before = (out / "main.txt").exists()  # every process looks before the main one writes ...
d.on_main(lambda: (time.sleep(0.5), (out / "main.txt").write_text("written by the main process")))
seen_after = (out / "main.txt").exists()  # ... and finds the file once on_main returns
torch.manual_seed(rank)  # different weights in each process ...
model = torch.nn.Linear(3, 2)
d.broadcast_parameters(model)  # ... then the main process's everywhere
(out / f"rank{rank}.json").write_text(json.dumps({
    "world_size": d.world_size(), "main": d.is_main_process(), "share": d.share(5),
    "gathered": d.gather_objects([f"r{rank}a", f"r{rank}b"][: rank + 1]),
    "seen_before": seen_before, "seen_after": seen_after,
    "on_main_value": d.on_main(lambda: rank * 10 + 7),
    "weights": [p.detach().flatten().tolist() for p in model.parameters()]}))
