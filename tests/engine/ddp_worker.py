"""Run under ``torchrun --nproc_per_node 2``: trains a tiny RAN with DDP (gloo, CPU) and writes
each rank's final parameters checksum and loss curve to ``$DDP_OUT/rank<r>.json``."""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from genrec_engine.models import RAN, RANConfig  # noqa: E402
from genrec_engine.train.loop import TrainConfig, fit  # noqa: E402

torch.set_num_threads(1)
rng = np.random.default_rng(0)
codes = np.array([[i // 8, (i // 2) % 4, i % 2] for i in range(32)])
seqs = [[(s + t) % 32 for t in range(6)] for s in rng.integers(0, 32, 64)]
model = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, dropout=0.0), codes, (4, 4, 2))
rows = []
res = fit(model, seqs, config=TrainConfig(epochs=3, batch_size=8, warmup_steps=1), device=torch.device("cpu"),
          max_len=8, on_epoch=rows.append)
rank = torch.distributed.get_rank()
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
with open(os.path.join(os.environ["DDP_OUT"], f"rank{rank}.json"), "w") as fh:
    json.dump({"world": torch.distributed.get_world_size(), "checksum": float(flat.double().sum()),
               "first": float(flat[0]), "losses": [r["loss"] for r in rows]}, fh)
torch.distributed.barrier()  # both ranks have written their results
torch.distributed.destroy_process_group()
os._exit(0)  # skip interpreter teardown: gloo's threads sometimes abort there ("terminate called ...")
