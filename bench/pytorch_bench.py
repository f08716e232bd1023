#!/usr/bin/python3
"""pytorch_bench.py - the PyTorch side of sei's network benchmark (bench/run.sh).

Times the same workloads as `sei bench --net ...`: torchvision vgg16 / resnet50
(num_classes=1000, torchvision's own random init), a random input batch, and either

  infer: model.eval(), torch.no_grad(), one forward pass;
  train: model.train(), one SGD step - zero_grad, forward, cross-entropy, backward, step
         (torch.optim.SGD, lr 0.01, momentum 0.9, set up once outside the timing);

--warmup untimed runs, then --iters timed runs with time.perf_counter (monotonic); the
MEDIAN is reported. torch.set_num_threads(--threads). Peak RSS is the process's
resource.getrusage(RUSAGE_SELF).ru_maxrss / 1024 (MiB), so it includes torch itself;
rss_after_import_mb tells how much of it is the library before any model exists.

  /usr/bin/python3 bench/pytorch_bench.py --net resnet50 --size 224 --batch 4 --mode train

prints one JSON object on one line. Comma lists (--net vgg16,resnet50 --mode infer,train)
run every combination, each in a FRESH python process so that peak RSS is per workload,
and print one line each. Exit status 2 on bad arguments, 3 if torch/torchvision is missing.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def blas_info(torch):
    """BLAS_INFO from the build configuration ("mkl", "open", "generic", ...)"""
    m = re.search(r"BLAS_INFO=([\w.-]+)", torch.__config__.show())
    return m.group(1) if m else "unknown"


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", default="resnet50", help="vgg16, resnet50 (comma list allowed)")
    ap.add_argument("--size", default="224", help="input height = width (comma list allowed)")
    ap.add_argument("--batch", default="1", help="images per batch (comma list allowed)")
    ap.add_argument("--mode", default="infer", help="infer or train (comma list allowed)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--classes", type=int, default=1000)
    return ap.parse_args()


def run_one(a):
    try:
        import torch
        import torchvision
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        print(f"pytorch_bench: torch/torchvision not available: {e}", file=sys.stderr)
        sys.exit(3)
    rss_import = rss_mb()
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    ctor = {"vgg16": torchvision.models.vgg16, "resnet50": torchvision.models.resnet50}.get(a.net)
    if ctor is None or a.mode not in ("infer", "train"):
        print(f"pytorch_bench: unknown --net {a.net} or --mode {a.mode}", file=sys.stderr)
        sys.exit(2)
    size, batch = int(a.size), int(a.batch)
    model = ctor(num_classes=a.classes)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, a.classes, (batch,))
    train = a.mode == "train"
    if train:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        lossf = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)

    ms = []
    for i in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        step()
        dt = 1e3 * (time.perf_counter() - t0)
        if i >= a.warmup:
            ms.append(dt)
    med = statistics.median(ms)
    out = {
        "engine": "pytorch", "net": a.net, "size": size, "batch": batch, "mode": a.mode,
        "threads": torch.get_num_threads(), "iters": a.iters, "warmup": a.warmup,
        "classes": a.classes, "torch": torch.__version__, "blas": blas_info(torch),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "ms_per_batch": round(med, 4), "ms_min": round(min(ms), 4), "ms_max": round(max(ms), 4),
        "images_per_s": round(1e3 * batch / med, 4),
        "peak_rss_mb": round(rss_mb(), 1), "rss_after_import_mb": round(rss_import, 1),
    }
    print(json.dumps(out, separators=(",", ":")), flush=True)


def main():
    a = parse()
    lists = {k: str(getattr(a, k)).split(",") for k in ("net", "size", "batch", "mode")}
    if all(len(v) == 1 for v in lists.values()):
        run_one(a)
        return
    rc = 0
    for net in lists["net"]:
        for size in lists["size"]:
            for batch in lists["batch"]:
                for mode in lists["mode"]:
                    cmd = [sys.executable, os.path.abspath(__file__), "--net", net, "--size", size,
                           "--batch", batch, "--mode", mode, "--threads", str(a.threads),
                           "--iters", str(a.iters), "--warmup", str(a.warmup),
                           "--classes", str(a.classes)]
                    rc = max(rc, subprocess.call(cmd))
    sys.exit(rc)


if __name__ == "__main__":
    main()
