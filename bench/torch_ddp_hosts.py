# One PyTorch DDP rank (gloo, 1 thread) for `ringtrain bench hosts`: the shared peer
# (../shared/peers/torch_ddp_node.py) plus --fp16-hook, which registers torch's own
# fp16_compress_hook, so gradients cross the link as float16 as with cluster.compression=fp16.
# Usage: python3 torch_ddp_hosts.py --rank R --world N --master HOST:PORT [--model mlp|cnn] [--steps 300] [--iface IF] [--fp16-hook]
import os, sys
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')  # before torch loads: torch.set_num_threads does not reach OpenBLAS
import argparse, time, json, resource
import torch, torch.nn as nn, torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

sys.path.insert(0, os.environ.get('PEERS_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'peers')))
from torch_common import load, build  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--rank', type=int, required=True)
ap.add_argument('--world', type=int, default=2)
ap.add_argument('--master', required=True)
ap.add_argument('--model', default='mlp')
ap.add_argument('--steps', type=int, default=300)
ap.add_argument('--warmup', type=int, default=20)
ap.add_argument('--batch', type=int, default=64)
ap.add_argument('--iface', default='')
ap.add_argument('--fp16-hook', action='store_true')
a = ap.parse_args()
if a.iface:
    os.environ['GLOO_SOCKET_IFNAME'] = a.iface
torch.set_num_threads(1)
torch.manual_seed(0)
dist.init_process_group('gloo', init_method=f'tcp://{a.master}', rank=a.rank, world_size=a.world)
x, y = load('train')
model = nn.parallel.DistributedDataParallel(build(a.model))
if a.fp16_hook:
    model.register_comm_hook(dist.group.WORLD, default_hooks.fp16_compress_hook)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
lossf = nn.CrossEntropyLoss()
B = a.batch
shard = x.shape[0] // a.world
base = a.rank * shard
cur = 0


def step():
    global cur
    if cur + B > shard:
        cur = 0
    xb, yb = x[base + cur: base + cur + B], y[base + cur: base + cur + B]
    cur += B
    opt.zero_grad(set_to_none=True)
    loss = lossf(model(xb), yb)
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(a.warmup):
    step()
dist.barrier()
t0 = time.perf_counter()
for _ in range(a.steps):
    last = step()
dist.barrier()
dt = time.perf_counter() - t0
print(json.dumps({'impl': 'torch DDP gloo' + (' fp16_compress_hook' if a.fp16_hook else ''), 'rank': a.rank, 'model': a.model, 'world': a.world,
                  'steps': a.steps, 'sec': round(dt, 3), 'aggSamplesPerSec': round(a.world * B * a.steps / dt, 1), 'lastLoss': round(last, 4),
                  'peakRssMB': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
dist.destroy_process_group()
