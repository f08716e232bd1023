#!/usr/bin/python3
"""gen_importance.py - PyTorch references for I-SPLIT importance (tests/test_importance.c).

    /usr/bin/python3 tests/gen_importance.py [--fixtures tests/fixtures]

For each existing fixture network (<tag>.weights.safetensors, input and labels from
<tag>.ref.safetensors) it computes, in float64 and eval mode, with forward hooks on the
torchvision modules that sei calls cut points:

  s_n = logit[n, y_n]   (label target; 'pred.' entries: the top logit)
  alpha_c = mean_hw dS/dA_c,  map = relu(mean_c alpha_c A_c),  importance = mean over hw and n

and writes <tag>.importance.safetensors with F64 scalars importance.<path> (label target),
importance_pred.<path> (pred target), F64 [K] importance_by_class.<path> (mean over the
images of each label, 0 for labels absent) and density.<path> (share of map values above the
cut point's own importance). The cut-point list is sei's: every ReLU and pool output and the
classifier ReLUs for VGG, the stem relu/maxpool, every bottleneck and avgpool for ResNet-50.
This is an independent implementation of the definition in split/importance.h: plain autograd
with retain_grad, one image set at a time, no shared code with the C side.
"""
import argparse
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sei_pt as S  # noqa: E402

TAGS = ["vgg16", "vgg16_bn", "resnet50"]


def cut_modules(model, net):
    """(path, module) of sei's cut points, in network order"""
    out = []
    if net.startswith("vgg"):
        for i, m in enumerate(model.features):
            if isinstance(m, (nn.ReLU, nn.MaxPool2d)):
                out.append(("features.%d" % i, m))
        out.append(("avgpool", model.avgpool))
        for i, m in enumerate(model.classifier):
            if isinstance(m, nn.ReLU):
                out.append(("classifier.%d" % i, m))
    else:
        out += [("relu", model.relu), ("maxpool", model.maxpool)]
        for li in range(1, 5):
            for bi, blk in enumerate(getattr(model, "layer%d" % li)):
                out.append(("layer%d.%d" % (li, bi), blk))
        out.append(("avgpool", model.avgpool))
    return out


def gradcam(model, net, x, target):
    """-> OrderedDict path -> (per-image mean map [N], all map values) for target [N]"""
    acts = OrderedDict()
    hooks = []
    for path, m in cut_modules(model, net):
        def hook(mod, inp, out, path=path):
            if path in acts:  # a module called twice would be ambiguous
                raise RuntimeError("%s ran twice" % path)
            out.retain_grad()
            acts[path] = out
        hooks.append(m.register_forward_hook(hook))
    logits = model(x)
    for h in hooks:
        h.remove()
    score = logits.gather(1, target.view(-1, 1)).sum()
    score.backward()
    res = OrderedDict()
    for path, a in acts.items():
        A, G = a.detach(), a.grad
        if A.dim() == 2:
            A, G = A[:, :, None, None], G[:, :, None, None]
        alpha = G.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((alpha * A).mean(dim=1))  # [N, H, W]
        res[path] = (cam.mean(dim=(1, 2)), cam.flatten())
    return res, logits.detach()


def gen(fixtures, tag):
    sd, meta = S.read_safetensors(os.path.join(fixtures, tag + ".weights.safetensors"), True)
    ref = S.read_safetensors(os.path.join(fixtures, tag + ".ref.safetensors"))
    net, classes = meta["net"], int(meta["classes"])
    model = S.build_net(net, classes, int(meta["in_ch"]), float(meta["width_mult"]))
    model.load_state_dict(OrderedDict((k, torch.from_numpy(v)) for k, v in sd.items()))
    model = model.to(torch.float64).eval()
    x = torch.from_numpy(ref["input"]).to(torch.float64)
    labels = torch.from_numpy(ref["labels"]).to(torch.int64)

    out = OrderedDict()
    lab, logits = gradcam(model, net, x.clone().requires_grad_(True), labels)
    model.zero_grad()
    pred, _ = gradcam(model, net, x.clone().requires_grad_(True), logits.argmax(dim=1))
    for path, (means, cam) in lab.items():
        imp = means.mean()
        out["importance." + path] = imp.reshape(())
        by = torch.zeros(classes, dtype=torch.float64)
        for k in range(classes):
            sel = labels == k
            if sel.any():
                by[k] = means[sel].mean()
        out["importance_by_class." + path] = by
        out["density." + path] = ((cam > imp).to(torch.float64).mean()).reshape(())
    for path, (means, _) in pred.items():
        out["importance_pred." + path] = means.mean().reshape(())
    om = OrderedDict(meta)
    om["cuts"] = ",".join(lab.keys())
    p = os.path.join(fixtures, tag + ".importance.safetensors")
    S.write_safetensors(p, out, om)
    vals = [float(out["importance." + k]) for k in lab]
    print("%-9s %2d cut points, importance %.3g .. %.3g -> %s" % (tag, len(vals), min(vals),
                                                                 max(vals), os.path.relpath(p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    for tag in TAGS:
        gen(a.fixtures, tag)


if __name__ == "__main__":
    main()
