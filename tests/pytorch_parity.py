#!/usr/bin/python3
"""pytorch_parity.py - acceptance check of the sei CLI against PyTorch (not part of `make test`).

    /usr/bin/python3 tests/pytorch_parity.py --net vgg16|vgg16_bn|resnet50 --size 32|64|224
        --batch 1..4 --in-ch 1|3 --classes K [--width-mult 1.0] [--seed S] [--sei ./sei]
        [--keep DIR]

Builds the net (tests/sei_pt.py), randomizes it (seed S), writes weights.safetensors and
input.safetensors (`input` [N,C,H,W] F32, `labels` [N] I64) to a temporary folder (or DIR with
--keep, which is kept), then runs

    SEI forward  --net NAME --classes K --in-ch C --width-mult F --weights W --input X --out Y
    SEI backward --net NAME --classes K --in-ch C --width-mult F --weights W --input X --out G

Y must hold `logits` [N,K]; G must hold `loss` (0-d), `grad.input` [N,C,H,W] and
`grad.<param>` for every parameter (state_dict names, buffers excluded). Any float dtype.

Rules (reference = PyTorch float64; float32 = PyTorch float32 from the same weights):
  forward   eval mode: max|logits - ref| / max|ref| <= 1e-4
  backward  train-mode BN (batch statistics), dropout disabled, loss = mean cross-entropy:
            total relative L2 over all gradients together (input included)
                <= max(1e-3, 4 x PyTorch float32's total)
            per tensor: max|g - g64| / max(max|g64| of the tensor, 1e-3 x max|g64| overall)
                <= max(0.25, 10 x PyTorch float32's value for that tensor)
            loss: |loss - loss64| / |loss64| <= 1e-5
Exit status: 0 PASS, 1 FAIL, 2 could not run (sei failed, bad output, bad arguments).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sei_pt as S  # noqa: E402

FWD_TOL = 1e-4
TOTAL_FLOOR, TOTAL_MULT = 1e-3, 4.0
TENSOR_FLOOR, TENSOR_MULT = 0.25, 10.0
LOSS_TOL = 1e-5


def die(msg):
    print("ERROR: " + msg)
    print("RESULT: ERROR")
    sys.exit(2)


def run_sei(sei, sub, a, wpath, xpath, opath):
    cmd = [sei, sub, "--net", a.net, "--classes", str(a.classes), "--in-ch", str(a.in_ch),
           "--width-mult", repr(float(a.width_mult)), "--weights", wpath, "--input", xpath,
           "--out", opath]
    if sei.endswith(".py"):
        cmd = [sys.executable] + cmd
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.time()
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=a.timeout)
    except FileNotFoundError:
        die("%s not found (build it with make, or pass --sei)" % sei)
    except subprocess.TimeoutExpired:
        die("sei %s timed out after %d s" % (sub, a.timeout))
    dt = time.time() - t0
    out = r.stdout.decode("utf-8", "replace")
    if out.strip():
        print("\n".join("  | " + l for l in out.rstrip().splitlines()[-20:]))
    if r.returncode != 0:
        die("sei %s exited with status %d" % (sub, r.returncode))
    if not os.path.exists(opath):
        die("sei %s wrote no %s" % (sub, opath))
    print("  (%.2f s)" % dt)
    return dt


def load_out(path):
    try:
        return S.read_safetensors(path)
    except Exception as e:  # noqa: BLE001
        die("cannot read %s: %s" % (path, e))


def check_shape(name, got, want, problems):
    if name not in got:
        problems.append("missing %s" % name)
        return False
    g = got[name]
    if tuple(g.shape) != tuple(want):
        problems.append("%s has shape %s, expected %s" % (name, list(g.shape), list(want)))
        return False
    if g.dtype.kind != "f":
        problems.append("%s has dtype %s, expected a float type" % (name, g.dtype))
        return False
    if not np.all(np.isfinite(g)):
        problems.append("%s has non-finite values" % name)
        return False
    return True


def verdict(ok):
    return "ok" if ok else "FAIL"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", required=True, choices=S.NETS)
    ap.add_argument("--size", type=int, required=True, help="input height = width (32, 64, 224)")
    ap.add_argument("--batch", type=int, required=True, choices=[1, 2, 3, 4])
    ap.add_argument("--in-ch", type=int, required=True, choices=[1, 3])
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--width-mult", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sei", default="./sei")
    ap.add_argument("--keep", metavar="DIR", help="write the files here and keep them")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per sei command")
    ap.add_argument("--worst", type=int, default=8, help="how many tensors to list")
    a = ap.parse_args()
    if a.classes < 1 or a.width_mult <= 0 or a.size < 32:
        die("need --classes >= 1, --width-mult > 0, --size >= 32")

    print("net %s  classes %d  in_ch %d  width_mult %s  size %d  batch %d  seed %d" % (
        a.net, a.classes, a.in_ch, a.width_mult, a.size, a.batch, a.seed))
    if a.width_mult == 1.0 and a.in_ch == 3:
        n = S.check_matches_torchvision(a.net, a.classes)
        print("state_dict: %d entries, identical keys/shapes to torchvision.models.%s" % (n, a.net))
    torch.manual_seed(a.seed)
    model = S.randomize(S.build_net(a.net, a.classes, a.in_ch, a.width_mult), a.seed)
    x, labels = S.make_batch(a.batch, a.in_ch, a.size, a.classes, a.seed + 1)
    sd = S.export_state_dict(model)
    params = [k for k, _ in model.named_parameters()]
    print("parameters: %d tensors, %d values" % (len(params), sum(int(p.numel()) for p in model.parameters())))

    if a.keep:
        d = a.keep
        os.makedirs(d, exist_ok=True)
    else:
        d = tempfile.mkdtemp(prefix="sei_parity_")
    try:
        wpath = os.path.join(d, "weights.safetensors")
        xpath = os.path.join(d, "input.safetensors")
        ypath = os.path.join(d, "forward.safetensors")
        gpath = os.path.join(d, "backward.safetensors")
        for p in (ypath, gpath):
            if os.path.exists(p):
                os.remove(p)
        meta = OrderedDict([("net", a.net), ("classes", str(a.classes)), ("in_ch", str(a.in_ch)),
                            ("width_mult", repr(float(a.width_mult))), ("size", str(a.size))])
        S.write_safetensors(wpath, sd, meta)
        S.write_safetensors(xpath, OrderedDict([("input", x), ("labels", labels)]),
                            OrderedDict([("batch", str(a.batch)), ("seed", str(a.seed))]))

        # references first (a PyTorch error, e.g. train-mode BN on 1 value per channel, is not
        # sei's fault)
        t0 = time.time()
        try:
            l64 = S.eval_logits(model, x, torch.float64)
            l32 = S.eval_logits(model, x, torch.float32)
            loss64, g64 = S.train_grads(model, x, labels, torch.float64)
            loss32, g32 = S.train_grads(model, x, labels, torch.float32)
        except Exception as e:  # noqa: BLE001
            die("PyTorch cannot run this configuration: %s" % e)
        print("PyTorch references: %.1f s" % (time.time() - t0))
        pt_err32 = S.per_tensor_errs(g32, g64)
        pt_total32 = S.total_rel_l2(g32, g64)
        pt_loss32 = abs(loss32 - loss64) / abs(loss64)
        pt_fwd32 = S.rel_max_err(l32, l64)

        run_sei(a.sei, "forward", a, wpath, xpath, ypath)
        run_sei(a.sei, "backward", a, wpath, xpath, gpath)
        Y = load_out(ypath)
        G = load_out(gpath)
    finally:
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
    if a.keep:
        print("files kept in %s" % d)

    problems = []
    ok = True
    print()
    # ---- forward
    print("FORWARD (eval mode)  max|logit| %.4g" % float(l64.abs().max()))
    if check_shape("logits", Y, l64.shape, problems):
        fe = S.rel_max_err(Y["logits"], l64)
        fok = fe <= FWD_TOL
        print("  logits  max abs err %.3e  rel %.3e  (PyTorch f32 %.3e)  limit %.1e  %s" % (
            float(np.max(np.abs(Y["logits"].astype(np.float64) - l64.numpy()))), fe, pt_fwd32,
            FWD_TOL, verdict(fok)))
        ok &= fok
    else:
        ok = False

    # ---- backward
    print("BACKWARD (train-mode BN, no dropout, mean cross-entropy)")
    want = OrderedDict([("grad." + k, tuple(v.shape)) for k, v in g64.items()])
    have_all = True
    if "loss" not in G or G["loss"].size != 1:
        problems.append("missing 0-d loss" if "loss" not in G else "loss has shape %s" % list(G["loss"].shape))
        have_all = False
    for k, shp in want.items():
        have_all &= check_shape(k, G, shp, problems)
    extra = [k for k in G if k != "loss" and k not in want]
    if extra:
        print("  note: %d unexpected tensors in the backward output, e.g. %s" % (len(extra), extra[:3]))
    if not have_all:
        ok = False
    else:
        loss = float(G["loss"].reshape(()))
        lrel = abs(loss - loss64) / abs(loss64)
        lok = lrel <= LOSS_TOL
        print("  loss    %.9g vs %.9g  rel err %.3e  (PyTorch f32 %.3e)  limit %.1e  %s" % (
            loss, loss64, lrel, pt_loss32, LOSS_TOL, verdict(lok)))
        if pt_loss32 > LOSS_TOL:
            print("  note: PyTorch float32 itself misses the loss limit: this configuration is "
                  "ill-conditioned (e.g. train-mode BN over very few values per channel)")
        gs = OrderedDict((k, G["grad." + k]) for k in g64)
        tot = S.total_rel_l2(gs, g64)
        tlim = max(TOTAL_FLOOR, TOTAL_MULT * pt_total32)
        tok = tot <= tlim
        print("  total relative L2 over %d gradients %.3e  (PyTorch f32 %.3e)  limit %.3e  %s" % (
            len(g64), tot, pt_total32, tlim, verdict(tok)))
        errs = S.per_tensor_errs(gs, g64)
        rows = []
        for k, e in errs.items():
            lim = max(TENSOR_FLOOR, TENSOR_MULT * pt_err32[k])
            rows.append((e / lim, k, e, pt_err32[k], lim))
        rows.sort(key=lambda r: -r[0])
        nbad = sum(1 for r in rows if r[0] > 1.0)
        print("  per tensor: %d of %d over their limit; worst (err/limit):" % (nbad, len(rows)))
        print("    %-44s %11s %11s %9s %7s" % ("tensor", "err", "PyTorch f32", "limit", "err/lim"))
        for r in rows[:a.worst] + [r for r in rows[a.worst:] if r[0] > 1.0][:20]:
            print("    %-44s %11.3e %11.3e %9.3e %7.3f %s" % (("grad." + r[1])[:44], r[2], r[3], r[4],
                                                            r[0], verdict(r[0] <= 1.0)))
        ok &= lok and tok and nbad == 0
    for p in problems:
        print("  problem: " + p)
    print("RESULT: %s" % ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
