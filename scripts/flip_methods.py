"""Which way of updating a classification head breaks least of what worked, at equal gain (CLINC150).

    python scripts/flip_methods.py            # choose on CLINC150 val; the deployments report on test

A weak head (10 queries per intent, 2 for 20 seeded intents: the deployment's weak model) is updated with all
other training queries. Each method's accuracy, negative flips and fixes are counted on CLINC150 ``val`` (3,000
queries), which neither the deployments nor their ceilings report on:

- refit: the new head as trained (warm-started from the old one);
- blend w: the head's weights interpolated toward the old head (BCWI; for a linear head the same as mixing logits);
- old-confidence gate: the old head answers wherever its top probability is at least tau;
- margin switch: the new head answers only where it prefers its label over the old head's by at least m;
- focal distillation (positive-congruent training, Yan et al. 2021): cross-entropy plus a KL term toward the old
  head, weighted alpha + beta on queries the old head got right (alpha, beta from the paper's range, not fitted).
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEFAULT_CLINC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clinc150"


def main() -> None:
    import torch

    from pioneer.data import load_clinc150, subsample
    from pioneer.training import ClassificationAdapter, ClassificationConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinc", type=Path, default=DEFAULT_CLINC)
    args = parser.parse_args()
    train, val = load_clinc150(args.clinc, "train"), load_clinc150(args.clinc, "val")
    labels = sorted({e.label for e in train})
    sparse = set(random.Random(0).sample(labels, 20))
    old_data = [e for e in subsample(train, per_label=10, seed=0) if e.label not in sparse] + subsample(
        [e for e in train if e.label in sparse], per_label=2, seed=0)
    fitted = {e.id for e in old_data}
    update = [*old_data, *(e for e in train if e.id not in fitted)]
    config = ClassificationConfig(progress_bar=False)
    old = ClassificationAdapter(config).fit(old_data)
    new = ClassificationAdapter(config).fit(update, start_from=old)

    def features(examples):
        texts = [e.text for e in examples]
        return torch.tensor(np.asarray(old._head_features(old._frozen_embeddings(texts), texts)), dtype=torch.float32)

    x_val, y_val = features(val), np.array([old.labels_.index(e.label) for e in val])
    x_up, y_up = features(update), torch.tensor([old.labels_.index(e.label) for e in update])
    w_old, b_old = (torch.tensor(a, dtype=torch.float32) for a in old._head_weights())
    w_new, b_new = (torch.tensor(a, dtype=torch.float32) for a in new._head_weights())
    p_old = torch.softmax(x_val @ w_old.T + b_old, -1).numpy()
    p_new = torch.softmax(x_val @ w_new.T + b_new, -1).numpy()
    old_right = p_old.argmax(1) == y_val

    def row(name: str, probabilities) -> None:
        pred = probabilities.argmax(1)
        print(f"| {name} | {(pred == y_val).mean():.4f} | {int((old_right & (pred != y_val)).sum())} | "
              f"{int((~old_right & (pred == y_val)).sum())} |", flush=True)

    print(f"CLINC150 val: {len(val)} queries, {int(old_right.sum())} right under the weak head\n")
    print("| method | val accuracy | negative flips | fixes |\n| --- | --- | --- | --- |")
    row("weak head", p_old)
    row("refit", p_new)
    for w in (0.8, 0.6, 0.4):
        row(f"blend {w}", torch.softmax(torch.tensor(w * np.log(p_new + 1e-12) + (1 - w) * np.log(p_old + 1e-12)),
                                         -1).numpy())
    for tau in (0.3, 0.5, 0.7):
        row(f"old-confidence gate tau={tau}", np.where((p_old.max(1) >= tau)[:, None], p_old, p_new))
    idx = np.arange(len(y_val))
    for m in (0.1, 0.3, 0.5):
        switch = p_new[idx, p_new.argmax(1)] - p_new[idx, p_old.argmax(1)] >= m
        row(f"margin switch m={m}", np.where(switch[:, None], p_new, p_old))
    for alpha, beta in ((0.0, 1.0), (0.0, 5.0), (1.0, 5.0)):
        w, b = _focal_distillation(x_up, y_up, (w_old, b_old), (w_new, b_new), alpha, beta, c=config.head_c)
        row(f"focal distillation a={alpha:g} b={beta:g}", torch.softmax(x_val @ w.T + b, -1).numpy())


def _focal_distillation(x, y, old, start, alpha: float, beta: float, c: float):
    """Multinomial logistic regression with L2 (1/C, as the product's head) plus the FD-KL term."""
    import torch

    w, b = (t.clone().requires_grad_(True) for t in start)
    with torch.no_grad():
        logits_old = x @ old[0].T + old[1]
        p_old = torch.softmax(logits_old, -1)
        weight = alpha + beta * (logits_old.argmax(1) == y).float()
    optimizer = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = x @ w.T + b
        kl = (p_old * (torch.log(p_old + 1e-12) - torch.log_softmax(logits, -1))).sum(1)
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum") + (weight * kl).sum()
        loss = loss + 0.5 * (w ** 2).sum() / c
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach(), b.detach()


if __name__ == "__main__":
    main()
