"""Which way of updating a classification head breaks least of what worked, at equal gain (CLINC150).

    python scripts/flip_methods.py                       # the head without n-grams
    python scripts/flip_methods.py --char-ngrams 16384   # the deployment's head (embedding + hashed n-grams)

Choose on CLINC150 val; the deployments report on test.

A weak head (10 queries per intent, 2 for 20 seeded intents: the deployment's weak model) is updated with all
other training queries. Each method's accuracy, negative flips and fixes are counted on CLINC150 ``val`` (3,000
queries), which neither the deployments nor their ceilings report on:

- refit: the new head as trained (warm-started from the old one);
- blend w: the head's weights interpolated toward the old head (BCWI; for a linear head the same as mixing logits);
- old-confidence gate: the old head answers wherever its top probability is at least tau;
- margin switch: the new head answers only where it prefers its label over the old head's by at least m;
- focal distillation (positive-congruent training, Yan et al. 2021): cross-entropy plus a KL term toward the old
  head, weighted alpha + beta on queries the old head got right (alpha, beta from the paper's range, not fitted);
- proximal refit lambda: the refit's loss plus lambda/2 ||(W, b) - (W_old, b_old)||^2, so directions the data pins
  down move and the others stay (to second order a curvature-weighted interpolation, like BCWI's importance-weighted
  variant);
- class-scoped: only the rows (weight and bias) of classes implicated in the update data's failures (their gold
  labels and the old head's wrong answers) change, refitted with the others frozen; "k+" keeps classes implicated
  in at least k failures;
- steps: the same candidate released as a chain of smaller blends (0 -> w1 -> w2 ... -> 1), each counted against
  the one before: a product decision, more releases each breaking less;
- sequence: what the trainer does instead, a refit on a third of the traffic released, then a refit on all of it,
  each against the one before, at the product's L2 and stronger ones;
- moving: six retrains on growing traffic, each release moving production a share s toward that retrain's refit.

``--only`` picks sections: switch, fd, prox, scoped, steps, sequence, moving (the refit and blends always print).
"""

from __future__ import annotations

import argparse
import os
import random
from collections import Counter
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
    parser.add_argument("--char-ngrams", type=int, default=0, help="the head's hashed n-gram buckets (deployment: 16384)")
    parser.add_argument("--order-seed", type=int, default=0, help="traffic order of the sequence and moving sections")
    parser.add_argument("--only", default="", help="comma-separated method families to run (default: all)")
    args = parser.parse_args()
    train, val = load_clinc150(args.clinc, "train"), load_clinc150(args.clinc, "val")
    labels = sorted({e.label for e in train})
    sparse = set(random.Random(0).sample(labels, 20))
    old_data = [e for e in subsample(train, per_label=10, seed=0) if e.label not in sparse] + subsample(
        [e for e in train if e.label in sparse], per_label=2, seed=0)
    fitted = {e.id for e in old_data}
    update = [*old_data, *(e for e in train if e.id not in fitted)]
    config = ClassificationConfig(progress_bar=False, char_ngrams=args.char_ngrams)
    old = ClassificationAdapter(config).fit(old_data)
    new = ClassificationAdapter(config).fit(update, start_from=old)

    def features(examples):
        texts = [e.text for e in examples]
        return _torch_features(old._head_features(old._frozen_embeddings(texts), texts))

    x_val, y_val = features(val), np.array([old.labels_.index(e.label) for e in val])
    x_up, y_up = features(update), torch.tensor([old.labels_.index(e.label) for e in update])
    old_head = tuple(torch.tensor(a, dtype=torch.float32) for a in old._head_weights())
    new_head = tuple(torch.tensor(a, dtype=torch.float32) for a in new._head_weights())

    def proba(head):
        return torch.softmax(_logits(x_val, head), -1).numpy()

    p_old, p_new = proba(old_head), proba(new_head)
    old_right = p_old.argmax(1) == y_val
    only = set(filter(None, args.only.split(",")))

    def row(name: str, probabilities, against=None) -> None:
        pred, base = probabilities.argmax(1), (p_old if against is None else against).argmax(1)
        right = base == y_val
        print(f"| {name} | {(pred == y_val).mean():.4f} | {int((right & (pred != y_val)).sum())} | "
              f"{int((~right & (pred == y_val)).sum())} |", flush=True)

    print(f"CLINC150 val: {len(val)} queries, {int(old_right.sum())} right under the weak head "
          f"(char n-grams: {args.char_ngrams})\n")
    print("| method | val accuracy | negative flips | fixes |\n| --- | --- | --- | --- |")
    row("weak head", p_old)
    row("refit", p_new)
    for w in (0.8, 0.6, 0.4, 0.2):
        row(f"blend {w}", proba(_blend(new_head, old_head, w)))
    if not only or "switch" in only:
        _switches(row, p_old, p_new)
    fit = {"c": config.head_c}
    if not only or "fd" in only:
        for alpha, beta in ((0.0, 1.0), (0.0, 5.0), (1.0, 5.0)):
            head = _fit_head(x_up, y_up, new_head, **fit, distill=(old_head, alpha, beta))
            row(f"focal distillation a={alpha:g} b={beta:g}", proba(head))
    if not only or "prox" in only:
        for lam in (0.3, 1.0, 3.0, 10.0, 30.0):
            row(f"proximal refit lambda={lam:g}", proba(_fit_head(x_up, y_up, old_head, **fit, anchor=(old_head, lam))))
    if not only or "scoped" in only:
        wrong = (_logits(x_up, old_head).argmax(1) != y_up).numpy()
        implicated = Counter([*y_up.numpy()[wrong], *_logits(x_up, old_head).argmax(1).numpy()[wrong]])
        print(f"\nupdate data: {int(wrong.sum())} of {len(update)} wrong under the weak head, "
              f"{len(implicated)} classes implicated\n", flush=True)
        for k in (1, 10, 30):
            scope = sorted(c for c, n in implicated.items() if n >= k)
            head = _fit_head(x_up, y_up, old_head, **fit, rows=scope)
            row(f"class-scoped {k}+ ({len(scope)} classes)", proba(head))
            for w in (0.6, 0.4):
                row(f"class-scoped {k}+ blend {w}", proba(_blend(head, old_head, w)))
    if not only or "steps" in only:
        print("\nreleases as a chain of blends, each counted against the one before:\n")
        print("| step | val accuracy | negative flips | fixes |\n| --- | --- | --- | --- |")
        for path in ((0.2, 0.4, 0.6, 0.8, 1.0), (0.4, 0.6, 0.8, 1.0), tuple(k / 10 for k in range(1, 11))):
            before = p_old
            for w in path:
                now = proba(_blend(new_head, old_head, w))
                row(f"{'-> '.join(f'{v:g}' for v in path)}: to {w:g}", now, against=before)
                before = now
    if not only or "sequence" in only:
        _sequence(row, old_data, update, config, x_val, args.order_seed)
    if not only or "moving" in only:
        _moving(row, old_data, update, config, x_val, args.order_seed)


def _sequence(row, old_data, update, config, x_val, seed: int) -> None:
    """The deployment's shape: a release on a third of the traffic, then one on all of it, each refitted from the
    one before, at the product's L2 (C = 10) and stronger ones: do heads that vary less flip less per release?"""
    import dataclasses

    import torch

    from pioneer.training import ClassificationAdapter

    print("\nreleases on growing data (weak -> a third of the traffic -> all of it), each against the one before:\n")
    print("| C | release | val accuracy | negative flips | fixes |\n| --- | --- | --- | --- | --- |")
    traffic = update[len(old_data):]
    random.Random(seed).shuffle(traffic)
    third = [*old_data, *traffic[: len(traffic) // 3]]
    for c in (10.0, 3.0, 1.0):
        cfg = dataclasses.replace(config, head_c=c)
        heads, before = [], None
        for data in (old_data, third, update):
            before = ClassificationAdapter(cfg).fit(data, start_from=before)
            heads.append(tuple(torch.tensor(a, dtype=torch.float32) for a in before._head_weights()))
        p = [torch.softmax(_logits(x_val, h), -1).numpy() for h in heads]
        for name, now, prev in (("weak", p[0], p[0]), ("a third", p[1], p[0]), ("all", p[2], p[1])):
            row(f"{c:g} | {name}", now, against=prev)


def _moving(row, old_data, update, config, x_val, seed: int, retrains: int = 6) -> None:
    """Six retrains on growing traffic, each refitting a target on all the traffic so far and releasing production
    moved a share s of the way toward it (s = 1: release the refit; smaller: an average of the targets over time)."""
    import torch

    from pioneer.training import ClassificationAdapter

    traffic = update[len(old_data):]
    random.Random(seed).shuffle(traffic)
    targets, before = [], ClassificationAdapter(config).fit(old_data)
    weak = tuple(torch.tensor(a, dtype=torch.float32) for a in before._head_weights())
    for k in range(1, retrains + 1):
        before = ClassificationAdapter(config).fit([*old_data, *traffic[: len(traffic) * k // retrains]], start_from=before)
        targets.append(tuple(torch.tensor(a, dtype=torch.float32) for a in before._head_weights()))
    print(f"\n{retrains} retrains on growing traffic, production moved a share s toward each refit, each release "
          "against the one before:\n")
    print("| s | release | val accuracy | negative flips | fixes |\n| --- | --- | --- | --- | --- |")
    for share in (1.0, 0.5, 0.3):
        production = weak
        for k, target in enumerate(targets, start=1):
            moved = _blend(target, production, share)
            row(f"{share:g} | r{k}", torch.softmax(_logits(x_val, moved), -1).numpy(),
                against=torch.softmax(_logits(x_val, production), -1).numpy())
            production = moved


def _switches(row, p_old, p_new) -> None:
    """Per-query choices between the two heads (both heads served)."""
    for tau in (0.3, 0.5, 0.7):
        row(f"old-confidence gate tau={tau}", np.where((p_old.max(1) >= tau)[:, None], p_old, p_new))
    idx = np.arange(len(p_old))
    for m in (0.1, 0.3, 0.5):
        switch = p_new[idx, p_new.argmax(1)] - p_new[idx, p_old.argmax(1)] >= m
        row(f"margin switch m={m}", np.where(switch[:, None], p_new, p_old))


def _torch_features(features):
    """Dense embeddings as a tensor; embeddings + hashed n-grams (scipy CSR) as a sparse COO tensor."""
    import torch

    if not hasattr(features, "tocoo"):
        return torch.tensor(np.asarray(features), dtype=torch.float32)
    coo = features.tocoo()
    index = torch.tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    return torch.sparse_coo_tensor(index, torch.tensor(coo.data, dtype=torch.float32), coo.shape).coalesce()


def _logits(x, head):
    import torch

    weight, bias = head
    return (torch.sparse.mm(x, weight.T) if x.is_sparse else x @ weight.T) + bias


def _blend(mine, theirs, w: float):
    return tuple(w * a + (1 - w) * b for a, b in zip(mine, theirs, strict=True))


def _fit_head(x, y, start, *, c: float, distill=None, anchor=None, rows=None, max_iter: int = 300):
    """Multinomial logistic regression with L2 (1/C, as the product's head), from ``start``, plus optionally:
    the FD-KL term (``distill``: old head, alpha, beta), an anchor lambda/2 ||(W, b) - old||^2 (``anchor``: old
    head, lambda), and only ``rows`` (class indices) free, every other row kept at ``start``'s."""
    import torch

    w, b = (t.clone().requires_grad_(True) for t in start)
    frozen = None
    if rows is not None:
        frozen = torch.ones(len(b), dtype=torch.bool)
        frozen[list(rows)] = False
    if distill is not None:
        with torch.no_grad():
            logits_old = _logits(x, distill[0])
            p_old = torch.softmax(logits_old, -1)
            weight = distill[1] + distill[2] * (logits_old.argmax(1) == y).float()
    optimizer = torch.optim.LBFGS([w, b], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = _logits(x, (w, b))
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum") + 0.5 * (w ** 2).sum() / c
        if distill is not None:
            kl = (p_old * (torch.log(p_old + 1e-12) - torch.log_softmax(logits, -1))).sum(1)
            loss = loss + (weight * kl).sum()
        if anchor is not None:
            loss = loss + 0.5 * anchor[1] * (((w - anchor[0][0]) ** 2).sum() + ((b - anchor[0][1]) ** 2).sum())
        loss.backward()
        if frozen is not None:  # the frozen classes' rows get no gradient, so L-BFGS never moves them
            w.grad[frozen] = 0
            b.grad[frozen] = 0
        return loss

    optimizer.step(closure)
    return w.detach(), b.detach()


if __name__ == "__main__":
    main()
