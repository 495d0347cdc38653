# The PyTorch side of `npm run bench:core` and `npm run bench:profile`: one process training the
# bench's models (mlp, cnn as ../shared/peers/torch_common.py builds them, and resnet: the same
# network as src/train/model-resnet.ts) with SGD lr 0.01 momentum 0.9, batch 64, on MNIST.
# Prints one JSON line: samples/s, and which BLAS library the process actually mapped (Debian's
# torch calls the system libblas.so.3, which is the unoptimized reference BLAS unless OpenBLAS
# provides it). --profile prints torch.profiler's per-op self CPU time per step instead.
# Usage: python3 torch_step.py --model mlp|cnn|resnet [--threads 1] [--steps 200] [--warmup 20] [--profile]
import sys, os
# OpenBLAS keeps its own thread pool, which torch.set_num_threads does not reach: pin it first.
os.environ['OPENBLAS_NUM_THREADS'] = next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == '--threads'), '1')
import argparse, json, time, resource
import torch, torch.nn as nn

sys.path.insert(0, os.environ.get('PEERS_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'peers')))
from torch_common import load, build  # noqa: E402


class Block(nn.Module):
    """A basic block: two 3x3 convs with batch norm; identity shortcut, or a strided 1x1 conv + BN."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.proj is None else self.proj(x)))


def resnet(channels=(16, 32, 64), blocks=1, classes=10):
    layers = [nn.Conv2d(1, channels[0], 3, 1, 1, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU()]
    width = channels[0]
    for stage, c in enumerate(channels):
        for b in range(blocks):
            layers.append(Block(width, c, 2 if stage > 0 and b == 0 else 1))
            width = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes)]
    return nn.Sequential(*layers)


def blas_in_use():
    """What provides this process's BLAS calls, and the BLAS-like files it has mapped.

    torch calls the cblas/sgemm symbols of libblas.so.3, so that file decides; OpenBLAS's own
    library may be mapped beside a reference libblas.so.3 (through LAPACK) and proves nothing."""
    paths = set()
    with open('/proc/self/maps') as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and ('blas' in parts[5] or 'mkl' in parts[5]):
                paths.add(os.path.realpath(parts[5]))
    names = sorted(paths)
    libblas = [p for p in names if os.path.basename(p).startswith('libblas.so')]
    deciding = libblas if libblas else names
    if any('openblas' in p for p in deciding):
        kind = 'openblas'
    elif any('mkl' in p for p in deciding):
        kind = 'mkl'
    elif deciding:
        kind = 'reference'
    else:
        kind = 'none'
    return kind, (deciding[:1] if libblas else []) + [p for p in names if p not in libblas[:1]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='mlp', choices=['mlp', 'cnn', 'resnet'])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--steps', type=int, default=200)
    ap.add_argument('--warmup', type=int, default=20)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--profile', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = load('train')
    model = resnet() if a.model == 'resnet' else build(a.model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    lossf = nn.CrossEntropyLoss()
    state = {'cur': 0}

    def step():
        cur = state['cur']
        if cur + a.batch > x.shape[0]:
            cur = 0
        xb, yb = x[cur:cur + a.batch], y[cur:cur + a.batch]
        state['cur'] = cur + a.batch
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    kind, paths = blas_in_use()
    if a.profile:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(a.steps):
                step()
        rows = [{'op': e.key, 'selfUsPerStep': e.self_cpu_time_total / a.steps, 'calls': e.count / a.steps}
                for e in prof.key_averages() if e.self_cpu_time_total > 0]
        rows.sort(key=lambda r: -r['selfUsPerStep'])
        print(json.dumps({'model': a.model, 'blas': kind, 'blasFiles': paths, 'ops': rows}))
        return
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        last = step()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({'impl': 'torch ' + torch.__version__, 'model': a.model, 'threads': torch.get_num_threads(), 'batch': a.batch, 'steps': a.steps,
                      'samplesPerSec': round(a.steps * a.batch / dt, 1), 'samplesPerCpuSec': round(a.steps * a.batch / cpu, 1), 'lastLoss': round(last, 4),
                      'blas': kind, 'blasFiles': paths, 'peakRssMB': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


main()
