#!/usr/bin/python3
"""gen_fixtures.py - regenerate tests/fixtures/ (PyTorch references for the C tests).

    /usr/bin/python3 tests/gen_fixtures.py [--out tests/fixtures]

Deterministic: fixed seeds, references computed in float64 (stored float32). See
tests/fixtures/README.md for what each file holds.
"""
import argparse
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sei_pt as S  # noqa: E402

# tag, net, classes, in_ch, width_mult, size, batch, weight seed, batch seed, optimizers,
# store the state after step 1 too (step1.<name>)
# * vgg16_bn uses wm=0.04 (not 1/16) to keep tests/fixtures/ under ~12 MB (its four files at
#   wm=1/16 alone take 8.5 MB); it also gives odd, rounded widths: 3,5,10,20 / fc 164.
# * resnet50 uses 64x64 (not 32x32): at 32x32 layer4 is 1x1, so with batch 2 its BatchNorms
#   normalise 2 values per channel, which is ill-conditioned (PyTorch float32 vs float64: loss
#   4.6e-5, gradients 2.1e-2 total relative L2). At 64x64 (8 values): 3.5e-6 and 6.7e-5.
# * resnet50's 3-step SGD (lr 0.02) trajectory is chaotic in float32 (step-2 state already
#   differs from float64 by ~10% of the update: huge gradients of the scale-invariant convs
#   under small-batch train-mode BN), so its file also holds the well-conditioned state after
#   step 1 (step1.<name>).
FIXTURES = [
    ("vgg16", "vgg16", 10, 3, 0.0625, 32, 2, 1001, 2001, ("sgd",), False),
    ("vgg16_bn", "vgg16_bn", 7, 1, 0.04, 32, 3, 1002, 2002, ("sgd", "adamw"), False),
    ("resnet50", "resnet50", 10, 3, 0.0625, 64, 2, 1003, 2003, ("sgd",), True),
]

STEPS = 3
SGD = dict(lr=0.02, momentum=0.9, weight_decay=5e-4)
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def scalar32(v):
    return torch.tensor(float(v), dtype=torch.float32)


def fmt(v):
    return repr(float(v))


def base_meta(net, classes, in_ch, wm, size, batch):
    return OrderedDict([("net", net), ("classes", str(classes)), ("in_ch", str(in_ch)),
                        ("width_mult", repr(wm)), ("size", str(size)), ("batch", str(batch))])


def gen_one(outdir, tag, net, classes, in_ch, wm, size, batch, wseed, bseed, opts, snap1):
    torch.manual_seed(0)  # build_net's own init is overwritten by randomize, but keep it fixed
    model = S.randomize(S.build_net(net, classes, in_ch, wm), wseed)
    x, labels = S.make_batch(batch, in_ch, size, classes, bseed)
    meta = base_meta(net, classes, in_ch, wm, size, batch)
    meta["weight_seed"] = str(wseed)
    meta["batch_seed"] = str(bseed)
    files = []

    # weights
    sd = S.export_state_dict(model)
    p = os.path.join(outdir, tag + ".weights.safetensors")
    S.write_safetensors(p, sd, meta)
    files.append(p)

    # forward (eval) + backward (train-mode BN, no dropout) references
    l64 = S.eval_logits(model, x, torch.float64)
    l32 = S.eval_logits(model, x, torch.float32)
    assert torch.isfinite(l64).all()
    loss64, g64 = S.train_grads(model, x, labels, torch.float64)
    loss32, g32 = S.train_grads(model, x, labels, torch.float32)
    errs = S.per_tensor_errs(g32, g64)
    total = S.total_rel_l2(g32, g64)
    loss_rel = abs(loss32 - loss64) / abs(loss64)
    logits_rel = S.rel_max_err(l32, l64)

    ref = OrderedDict()
    ref["input"] = x.contiguous()
    ref["labels"] = labels.contiguous()
    ref["logits"] = f32(l64)
    ref["loss"] = scalar32(loss64)
    for k, v in g64.items():
        ref["grad." + k] = f32(v)
    for k, v in errs.items():
        ref["pt32err." + k] = scalar32(v)
    rmeta = OrderedDict(meta)
    rmeta.update([("loss_reduction", "mean"), ("loss64", fmt(loss64)),
                  ("pt32_logits_rel", fmt(logits_rel)), ("pt32_total_rel_l2", fmt(total)),
                  ("pt32_loss_rel", fmt(loss_rel)), ("pt32_max_tensor_err", fmt(max(errs.values()))),
                  ("max_abs_logit", fmt(l64.abs().max()))])
    p = os.path.join(outdir, tag + ".ref.safetensors")
    S.write_safetensors(p, ref, rmeta)
    files.append(p)
    worst = sorted(errs.items(), key=lambda kv: -kv[1])[:3]
    print("%-9s max|logit| %.4g  loss %.6f  pt32: logits %.2e  loss %.2e  grads total L2 %.2e"
          "  worst tensors %s" % (tag, float(l64.abs().max()), loss64, logits_rel, loss_rel, total,
                                  ", ".join("%s %.2e" % kv for kv in worst)))

    # optimizer trajectories
    sd0 = {k: v.to(torch.float64) for k, v in model.state_dict().items()}
    for opt in opts:
        hp = dict(SGD, nesterov=(net == "resnet50")) if opt == "sgd" else dict(ADAMW)
        losses64, m64 = S.train_steps(model, x, labels, torch.float64, opt, STEPS, **hp)
        losses32, m32 = S.train_steps(model, x, labels, torch.float32, opt, STEPS, **hp)
        out = OrderedDict()
        out["loss"] = torch.tensor(losses64, dtype=torch.float32)
        snaps = [("final.", "pt32err.", m64.state_dict(), m32.state_dict())]
        if snap1:
            _, s64 = S.train_steps(model, x, labels, torch.float64, opt, 1, **hp)
            _, s32 = S.train_steps(model, x, labels, torch.float32, opt, 1, **hp)
            snaps.append(("step1.", "pt32err_step1.", s64.state_dict(), s32.state_dict()))
        fkeys = [k for k in sd0 if not k.endswith("num_batches_tracked")]
        summary = OrderedDict()
        for pre, epre, fin64, fin32 in snaps:
            for k, v in fin64.items():
                out[pre + k] = v.to(torch.int64) if k.endswith("num_batches_tracked") else f32(v)
            delta = OrderedDict((k, fin64[k] - sd0[k]) for k in fkeys)
            dmax = max(float(d.abs().max()) for d in delta.values())
            perr = OrderedDict()
            for k in fkeys:
                den = max(float(delta[k].abs().max()), 1e-3 * dmax, 1e-30)
                perr[k] = float((fin32[k].to(torch.float64) - fin64[k]).abs().max()) / den
                out[epre + k] = scalar32(perr[k])
            summary[pre] = (perr, max(S.rel_max_err(fin32[k], fin64[k]) for k in fkeys))
        perr, final_rel = summary["final."]
        lrel = max(abs(a - b) / abs(b) for a, b in zip(losses32, losses64))
        om = OrderedDict(meta)
        om["opt"] = opt
        for k, v in hp.items():
            om[k] = ",".join(repr(float(e)) for e in v) if isinstance(v, tuple) else (
                ("1" if v else "0") if isinstance(v, bool) else repr(float(v)))
        om["steps"] = str(STEPS)
        om["loss_reduction"] = "mean"
        om["pt32_loss_rel"] = fmt(lrel)
        om["pt32_final_rel_max"] = fmt(final_rel)
        om["pt32_max_tensor_err"] = fmt(max(perr.values()))
        om["snapshots"] = "step1,final" if snap1 else "final"
        if snap1:
            om["pt32_step1_final_rel_max"] = fmt(summary["step1."][1])
            om["pt32_step1_max_tensor_err"] = fmt(max(summary["step1."][0].values()))
        p = os.path.join(outdir, "%s.%s.safetensors" % (tag, opt))
        S.write_safetensors(p, out, om)
        files.append(p)
        worst = sorted(perr.items(), key=lambda kv: -kv[1])[:3]
        print("%-9s %-5s losses %s  pt32: loss %.2e  final/|w| %.2e  final/|dw| worst %s" % (
            tag, opt, " ".join("%.6f" % v for v in losses64), lrel, final_rel,
            ", ".join("%s %.2e" % kv for kv in worst)))
        if snap1:
            print("%-9s %-5s step1 only: final/|w| %.2e  final/|dw| max %.2e" % (
                tag, opt, summary["step1."][1], max(summary["step1."][0].values())))
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for n in S.NETS:
        S.check_matches_torchvision(n, 10)
    files = []
    for fx in FIXTURES:
        files += gen_one(a.out, *fx)
    total = 0
    print()
    for p in files:
        sz = os.path.getsize(p)
        total += sz
        print("%10d  %s" % (sz, os.path.relpath(p)))
    print("%10d  total (%.2f MB)" % (total, total / 1e6))


if __name__ == "__main__":
    main()
