"""sei_pt.py - PyTorch-side helpers shared by tests/gen_fixtures.py and tests/pytorch_parity.py.

Needs only /usr/bin/python3 with torch, torchvision and numpy (Debian python3-torch 1.13,
python3-torchvision 0.14). No `safetensors` package: the format is read and written here.

  build_net(name, classes, in_ch, wm)   vgg16 | vgg16_bn | resnet50, names = torchvision's
  randomize(model, seed)                deterministic random weights + BN statistics
  export_state_dict(model)              name -> tensor (F32; num_batches_tracked I64)
  write_safetensors(path, tensors, metadata) / read_safetensors(path, with_metadata=False)
  eval_logits / train_grads / train_steps   the float64 / float32 references
  rel_max_err / per_tensor_errs / total_rel_l2  the error metrics of the acceptance rules

Conventions every reference here uses (the C side must do the same):
  * loss = mean cross-entropy over the batch (F.cross_entropy, reduction="mean");
  * "train mode" = BatchNorm uses batch statistics (biased variance for normalising, running
    stats updated with momentum 0.1 and the unbiased variance), dropout disabled (p = 0);
  * "eval mode" = BatchNorm uses running stats, dropout is the identity.
"""
import copy
import json
import math
import os
import struct
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.models.vgg import VGG, make_layers

NETS = ("vgg16", "vgg16_bn", "resnet50")

VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def ch(c, wm):
    """Scaled channel count: max(1, floor(c*wm + 0.5))."""
    return max(1, int(math.floor(c * wm + 0.5)))


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------

def _build_vgg16(classes, in_ch, wm, bn):
    cfg = [v if v == "M" else ch(v, wm) for v in VGG16_CFG]
    # dropout=0: both references need dropout disabled; module indices are unchanged
    model = VGG(make_layers(cfg, batch_norm=bn), num_classes=classes, init_weights=True, dropout=0.0)
    if in_ch != 3:
        old = model.features[0]
        model.features[0] = nn.Conv2d(in_ch, old.out_channels, kernel_size=3, padding=1)
    c5, fc = ch(512, wm), ch(4096, wm)
    model.classifier = nn.Sequential(
        nn.Linear(c5 * 7 * 7, fc),
        nn.ReLU(True),
        nn.Dropout(p=0.0),
        nn.Linear(fc, fc),
        nn.ReLU(True),
        nn.Dropout(p=0.0),
        nn.Linear(fc, classes),
    )
    return model


class ScaledResNet50(ResNet):
    """torchvision's ResNet (v1.5, Bottleneck [3,4,6,3]) with scaled widths and in_ch inputs.
    Same attribute names, so state_dict keys equal torchvision.models.resnet50's."""

    def __init__(self, classes, in_ch, wm):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = ch(64, wm)
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # Bottleneck width = planes
        self.conv1 = nn.Conv2d(in_ch, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(Bottleneck, ch(64, wm), 3)
        self.layer2 = self._make_layer(Bottleneck, ch(128, wm), 4, stride=2)
        self.layer3 = self._make_layer(Bottleneck, ch(256, wm), 6, stride=2)
        self.layer4 = self._make_layer(Bottleneck, ch(512, wm), 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(ch(512, wm) * Bottleneck.expansion, classes)


def build_net(name, classes, in_ch=3, wm=1.0):
    """The network the C side builds (float32, train mode as constructed). Weights are
    torchvision's default init; call randomize() for the values the tests use."""
    if name == "vgg16":
        return _build_vgg16(classes, in_ch, wm, bn=False)
    if name == "vgg16_bn":
        return _build_vgg16(classes, in_ch, wm, bn=True)
    if name == "resnet50":
        return ScaledResNet50(classes, in_ch, wm)
    raise ValueError("unknown net %r (expected one of %s)" % (name, ", ".join(NETS)))


def check_matches_torchvision(name, classes):
    """Assert that build_net(name, classes, 3, 1.0) has exactly torchvision's state_dict keys,
    order and shapes."""
    ours = build_net(name, classes, 3, 1.0).state_dict()
    ref = getattr(torchvision.models, name)(weights=None, num_classes=classes).state_dict()
    ka, kb = list(ours.keys()), list(ref.keys())
    assert ka == kb, "%s: state_dict keys differ from torchvision: %s" % (
        name, sorted(set(ka) ^ set(kb))[:10])
    for k in ka:
        assert ours[k].shape == ref[k].shape, "%s: %s shape %s != torchvision %s" % (
            name, k, tuple(ours[k].shape), tuple(ref[k].shape))
        assert ours[k].dtype == ref[k].dtype, "%s: %s dtype differs" % (name, k)
    return len(ka)


def randomize(model, seed):
    """Deterministic random weights (in place, float32 model). Returns the model.

    conv weight:  kaiming_normal_(fan_out, relu)       (torchvision's init)
    conv bias:    U(-1/sqrt(fan_in), 1/sqrt(fan_in))    (PyTorch's Conv2d default; torchvision
                                                         would zero it, which hides bias bugs)
    linear:       PyTorch's nn.Linear default (kaiming_uniform a=sqrt(5), bias U(+-1/sqrt(fan_in)))
    BatchNorm:    weight U(0.5,1.5), bias U(-0.2,0.2), running_mean U(-0.2,0.2),
                  running_var U(0.5,1.5), num_batches_tracked = 100 + index of the BN layer
    ResNet-50 bn3 (last BN of every Bottleneck): weight U(0.4,0.8) instead, so the 16
                  residual additions do not blow up the eval-mode activations: with U(0.5,1.5)
                  max |logit| is ~30 at wm=1/16, 32x32 but ~860 at wm=1, 224x224; with U(0.4,0.8)
                  it is ~1.4 and ~10.5.
    """
    g = torch.Generator().manual_seed(int(seed))

    def uniform_(t, lo, hi):
        with torch.no_grad():
            t.copy_(torch.rand(t.shape, generator=g, dtype=torch.float64).to(t.dtype) * (hi - lo) + lo)

    def normal_(t, std):
        with torch.no_grad():
            t.copy_((torch.randn(t.shape, generator=g, dtype=torch.float64) * std).to(t.dtype))

    bn3 = set()
    for m in model.modules():
        if isinstance(m, Bottleneck):
            bn3.add(id(m.bn3))
    nbn = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            fan_out = m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            normal_(m.weight, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                b = 1.0 / math.sqrt(fan_in)
                uniform_(m.bias, -b, b)
        elif isinstance(m, nn.Linear):
            b = 1.0 / math.sqrt(m.in_features)  # = kaiming_uniform(a=sqrt(5)) bound
            uniform_(m.weight, -b, b)
            if m.bias is not None:
                uniform_(m.bias, -b, b)
        elif isinstance(m, nn.BatchNorm2d):
            if id(m) in bn3:
                uniform_(m.weight, 0.4, 0.8)
            else:
                uniform_(m.weight, 0.5, 1.5)
            uniform_(m.bias, -0.2, 0.2)
            uniform_(m.running_mean, -0.2, 0.2)
            uniform_(m.running_var, 0.5, 1.5)
            m.num_batches_tracked.fill_(100 + nbn)
            nbn += 1
    return model


def make_batch(n, in_ch, size, classes, seed):
    """input [N,C,H,W] float32 ~ N(0,1), labels [N] int64 in [0, classes)."""
    g = torch.Generator().manual_seed(int(seed))
    x = torch.randn((n, in_ch, size, size), generator=g, dtype=torch.float32)
    y = torch.randint(0, classes, (n,), generator=g, dtype=torch.int64)
    return x, y


def export_state_dict(model):
    """state_dict as name -> contiguous CPU tensor: float32, num_batches_tracked int64."""
    out = OrderedDict()
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if k.endswith("num_batches_tracked"):
            out[k] = v.to(torch.int64).contiguous()
        else:
            out[k] = v.to(torch.float32).contiguous()
    return out


# ---------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------

_DT = {  # safetensors dtype -> little-endian numpy dtype
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}
_NP2DT = {np.dtype(v).newbyteorder("<") if np.dtype(v).itemsize > 1 else np.dtype(v): k
          for k, v in _DT.items()}


def _to_numpy(t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        if t.dtype == torch.bfloat16:
            raise ValueError("BF16 not supported here")
        t = t.numpy()
    return np.asarray(t)


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered mapping name -> torch tensor or numpy array (dtype kept: convert
    before calling). metadata: str -> str (values are converted with str()). Data is written
    contiguous, in the given order; the header is space-padded to a multiple of 8."""
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = OrderedDict((str(k), str(v)) for k, v in metadata.items())
    blobs, off = [], 0
    for name, t in tensors.items():
        a = _to_numpy(t)
        dt = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
        if dt not in _NP2DT:
            raise ValueError("%s: unsupported dtype %s" % (name, a.dtype))
        b = np.ascontiguousarray(a, dtype=dt).tobytes()
        header[name] = OrderedDict([("dtype", _NP2DT[dt]), ("shape", list(a.shape)),
                                    ("data_offsets", [off, off + len(b)])])
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return 8 + len(h) + off


def read_safetensors(path, with_metadata=False):
    """-> OrderedDict name -> numpy array (native dtype of the file), optionally with the
    metadata dict as a second value. Supports F64 F32 F16 I64 I32 I16 I8 U8 BOOL."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError("%s: header length %d beyond the file" % (path, n))
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = OrderedDict()
    for name, e in header.items():
        if e["dtype"] not in _DT:
            raise ValueError("%s: %s: unsupported dtype %s" % (path, name, e["dtype"]))
        dt = np.dtype(_DT[e["dtype"]])
        b, en = e["data_offsets"]
        shape = tuple(e["shape"])
        if en > len(data) or en - b != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise ValueError("%s: %s: bad data_offsets" % (path, name))
        out[name] = np.frombuffer(data[b:en], dtype=dt).reshape(shape).copy()
    return (out, meta) if with_metadata else out


# ---------------------------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------------------------

def _as(model, dtype):
    m = copy.deepcopy(model)
    return m.to(dtype)


def _set_train(m):
    m.train()
    for mod in m.modules():
        if isinstance(mod, nn.Dropout):
            mod.p = 0.0
    return m


def eval_logits(model, x, dtype):
    """Eval-mode logits computed in `dtype` (a copy of the model is converted)."""
    m = _as(model, dtype).eval()
    with torch.no_grad():
        return m(x.to(dtype))


def train_grads(model, x, labels, dtype):
    """Train-mode BN, dropout disabled: mean cross-entropy loss and gradients, computed in
    `dtype` on a copy. -> (loss float, OrderedDict 'input' + every parameter name -> grad)."""
    m = _set_train(_as(model, dtype))
    xi = x.to(dtype).clone().requires_grad_(True)
    loss = F.cross_entropy(m(xi), labels)
    loss.backward()
    g = OrderedDict()
    g["input"] = xi.grad.detach()
    for k, p in m.named_parameters():
        g[k] = p.grad.detach() if p.grad is not None else torch.zeros_like(p)
    return float(loss.item()), g


def train_steps(model, x, labels, dtype, opt, steps, **hp):
    """`steps` optimizer steps on a copy (train-mode BN, dropout disabled, same batch each
    step, one parameter group holding every parameter, so weight decay applies to all).
    opt: 'sgd' (lr, momentum, weight_decay, nesterov) or 'adamw' (lr, betas, eps, weight_decay).
    -> (list of the loss before each step, model after the steps)."""
    m = _set_train(_as(model, dtype))
    if opt == "sgd":
        o = torch.optim.SGD(m.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                            weight_decay=hp["weight_decay"], nesterov=hp["nesterov"])
    elif opt == "adamw":
        o = torch.optim.AdamW(m.parameters(), lr=hp["lr"], betas=hp["betas"], eps=hp["eps"],
                              weight_decay=hp["weight_decay"])
    else:
        raise ValueError(opt)
    xs = x.to(dtype)
    losses = []
    for _ in range(steps):
        o.zero_grad()
        loss = F.cross_entropy(m(xs), labels)
        loss.backward()
        o.step()
        losses.append(float(loss.item()))
    return losses, m


# ---------------------------------------------------------------------------------------------
# error metrics (the acceptance rules of tests/pytorch_parity.py)
# ---------------------------------------------------------------------------------------------

def _np64(t):
    return _to_numpy(t).astype(np.float64)


def rel_max_err(test, ref):
    """max |test - ref| / max |ref| (floor 1e-30)."""
    a, r = _np64(test), _np64(ref)
    return float(np.max(np.abs(a - r))) / max(float(np.max(np.abs(r))), 1e-30) if r.size else 0.0


def per_tensor_errs(test, ref):
    """For each name of ref: max |test - ref| / max(max |ref| of that tensor, 1e-3 * the largest
    |ref| over all tensors of ref together). -> OrderedDict name -> float."""
    refs = OrderedDict((k, _np64(v)) for k, v in ref.items())
    gmax = max((float(np.max(np.abs(v))) for v in refs.values() if v.size), default=0.0)
    out = OrderedDict()
    for k, r in refs.items():
        a = _np64(test[k])
        den = max(float(np.max(np.abs(r))) if r.size else 0.0, 1e-3 * gmax, 1e-30)
        out[k] = float(np.max(np.abs(a - r))) / den if r.size else 0.0
    return out


def total_rel_l2(test, ref):
    """sqrt(sum over all tensors of |test-ref|^2) / sqrt(sum |ref|^2)."""
    num = den = 0.0
    for k, v in ref.items():
        r = _np64(v)
        a = _np64(test[k])
        num += float(np.sum((a - r) ** 2))
        den += float(np.sum(r ** 2))
    return math.sqrt(num) / max(math.sqrt(den), 1e-300)


if __name__ == "__main__":
    # self-check: torchvision equivalence and a safetensors round trip
    for n in NETS:
        print("%s: %d state_dict entries match torchvision" % (n, check_matches_torchvision(n, 1000)))
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.safetensors")
        src = OrderedDict([("a", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
                           ("b", torch.tensor(3.5, dtype=torch.float64)),
                           ("c", torch.tensor([1, -2], dtype=torch.int64)),
                           ("d", np.array([1, 2, 3], dtype=np.uint8)),
                           ("e", np.array([0.5], dtype=np.float16)),
                           ("f", torch.tensor([7], dtype=torch.int32))])
        write_safetensors(p, src, {"k": 1})
        back, meta = read_safetensors(p, with_metadata=True)
        assert meta == {"k": "1"}
        for k, v in src.items():
            assert np.array_equal(_to_numpy(v), back[k]) and _to_numpy(v).dtype == back[k].dtype, k
        with open(p, "rb") as f:
            (hn,) = struct.unpack("<Q", f.read(8))
        assert hn % 8 == 0
    print("safetensors round trip ok")
