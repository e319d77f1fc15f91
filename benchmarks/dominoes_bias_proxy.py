"""Simplicity-bias proxy for the embedded dominoes: small CNN + tanh 32-bit head trained with cross-entropy on the
codes plus a supervised pairwise hashing loss (Adam, lr 1e-3, /10 after 70% of the epochs), one CPU thread.

Measures (a) complex block alone (complex-only, blanked, train and test), (b) dominoes -> simple-only (randomised),
(c) dominoes -> complex-only (randomised). mAP: sign codes, Hamming ranking over the training database.
Usage: python benchmarks/dominoes_bias_proxy.py [--epochs 20] [--root data] [--options JSON]  (about 4-6 min)
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn

from a2lib.data import load

BITS = 32
LOGIT_SCALE = 3.0
LR_DECAY_AT = 0.7
LR_DECAY = 0.1


def small_cnn(bits=BITS):
    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(block(3, 16), block(16, 32), block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, bits), nn.Tanh())


def pairwise_loss(codes, labels):
    """(u_i.u_j/k - s_ij)^2 with s = +-1, negatives reweighted to the positives' total weight (as ADSH does)."""
    same = (labels[:, None] == labels[None, :]).float()
    s = same * 2 - 1
    weight = same + (1 - same) * same.sum() / (1 - same).sum().clamp(min=1)
    return (weight * (codes @ codes.t() / codes.shape[1] - s) ** 2).sum() / weight.sum()


def train(dataset, epochs, seed, batch=64, lr=1e-3):
    """Cross-entropy on the tanh codes (a linear classifier over the codes) plus the pairwise hashing loss."""
    torch.manual_seed(seed)
    model = small_cnn()
    head = nn.Linear(BITS, dataset.num_classes)
    opt = torch.optim.Adam(list(model.parameters()) + list(head.parameters()), lr=lr)
    x = dataset.images_uint8.float() / 255
    y = dataset.labels
    g = torch.Generator().manual_seed(seed)
    decay = torch.optim.lr_scheduler.MultiStepLR(opt, [int(epochs * LR_DECAY_AT)], LR_DECAY)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y), generator=g).split(batch):
            codes = model(x[idx])
            loss = nn.functional.cross_entropy(head(codes) * LOGIT_SCALE, y[idx]) + pairwise_loss(codes, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        decay.step()
    return model


@torch.no_grad()
def encode(model, dataset):
    model.eval()
    x = dataset.images_uint8.float() / 255
    return torch.cat([model(xb) for xb in x.split(256)]).sign()


def mean_average_precision(q, db, ql, dbl):
    dist = 0.5 * (q.shape[1] - q @ db.t())
    aps = []
    for i in range(len(q)):
        order = torch.argsort(dist[i], stable=True)
        rel = (dbl[order] == ql[i]).float()
        if rel.sum() == 0:
            continue
        hits = torch.cumsum(rel, 0)
        ranks = torch.arange(1, len(rel) + 1).float()
        aps.append(float((hits / ranks * rel).sum() / rel.sum()))
    return float(np.mean(aps))


def run(epochs, root, seed, options=None):
    options = options or {}
    results = {}
    t = time.time()
    tr = load("synth-dominoes", "train", root=root, **options, variant="complex-only", flavour="blanked")
    te = load("synth-dominoes", "test", root=root, **options, variant="complex-only", flavour="blanked")
    m = train(tr, epochs, seed)
    results["a_complex_alone"] = mean_average_precision(encode(m, te), encode(m, tr), te.labels, tr.labels)
    tr = load("synth-dominoes", "train", root=root, **options, variant="both")
    m = train(tr, epochs, seed)
    db = encode(m, tr)
    for key, variant in (("b_simple_only", "simple-only"), ("c_complex_only", "complex-only"), ("both", "both")):
        te = load("synth-dominoes", "test", root=root, **options, variant=variant, flavour="randomised")
        results[key] = mean_average_precision(encode(m, te), db, te.labels, tr.labels)
    results["c_over_a"] = results["c_complex_only"] / results["a_complex_alone"]
    results["seconds"] = round(time.time() - t, 1)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--root", default="data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--options", default="{}", help="JSON of synth-dominoes options (texture=..., digits=...)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(run(args.epochs, args.root, args.seed, json.loads(args.options)), indent=1))
