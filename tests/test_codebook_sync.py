"""Data-parallel codebook training: every process holds the same codebook, updated from everyone's batches."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r'''
import torch
from accelerate import Accelerator

from videovq.tokenizer.quantizer import VectorQuantizer
from videovq.train.tokenizer import _restart_dead_codes

acc = Accelerator(cpu=True)
rank, world = acc.process_index, acc.num_processes


def quantizer():
    torch.manual_seed(0)  # the same initial codebook on every process, as the trainer's seeded model gives
    q = VectorQuantizer(dim=8, codebook_size=32, decay=0.5, dead_after=0.5)
    return q.train()


def batch(r, step):  # each process sees other data
    return torch.randn(2, 8, 3, 3, generator=torch.Generator().manual_seed(1000 * r + step)) + 2 * r


def synced(tensor):
    rows = acc.gather(tensor[None].contiguous())
    return all(torch.equal(rows[0], row) for row in rows)


q = quantizer()
q.sync_processes = True
alone = quantizer()  # one process that sees both processes' batches at once
checks = []
for step in range(4):
    q(batch(rank, step))
    alone(torch.cat([batch(r, step) for r in range(world)]))
    checks.append(all(synced(t) for t in (q.codebook, q.ema_sum, q.ema_count)))
    checks.append(torch.allclose(q.codebook, alone.codebook, atol=1e-6))
restarted = _restart_dead_codes(q, seed=0, step=3, accelerator=acc)
checks.append(all(synced(t) for t in (q.codebook, q.ema_sum, q.ema_count, q.usage)))
if acc.is_main_process:
    print("restarted", int(restarted), "checks", "".join("1" if c else "0" for c in checks))
acc.end_training()  # destroys the gloo process group: left to interpreter exit, its threads can abort the process
'''


def test_codebooks_stay_identical_across_processes(tmp_path):
    script = tmp_path / "sync.py"
    script.write_text(SCRIPT)
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [l for l in result.stdout.splitlines() if l.startswith("restarted")]
    _, restarted, _, checks = line.split()
    # In sync after every EMA step, equal to one process seeing both batches, and in sync after a restart.
    assert checks == "1" * 9, line
    assert int(restarted) > 0, "no code was restarted: the test no longer covers the restart broadcast"
