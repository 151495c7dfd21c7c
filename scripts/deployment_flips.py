"""What a CLINC150 deployment's releases did, recounted on CLINC150 val (never test), and how each release's
candidate would have fared blended at other weights or released as a chain of smaller steps.

    python scripts/deployment_flips.py bench-results/deployment-clinc150
    python scripts/deployment_flips.py bench-results/deployment-clinc150 --refit   # + each release's data refitted

Reads the deployment's registry (``<out>/registry/clinc150``): the releases in alias order, each version's head
and recipe. A release blended at weight w toward its parent is unblended, (W - (1 - w) W_parent) / w, so its
candidate's whole curve can be drawn. Counted on the CLINC150 ``val`` queries the deployment did not use as its
validation or gate sets (those are left out by id); the deployment's reports count on test.

``--refit`` also fits each warm-started release's stored training data (its curriculum repeated as the trainer
did) from its parent's, with and without the hashed n-grams, to tell the head's features from the data.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEFAULT_CLINC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clinc150"
WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.1)


def main() -> None:
    from pioneer.data import load_clinc150
    from pioneer.registry import FileRegistry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the deployment's --out folder")
    parser.add_argument("--clinc", type=Path, default=DEFAULT_CLINC)
    parser.add_argument("--refit", action="store_true", help="refit each release's data, with and without n-grams")
    args = parser.parse_args()
    root = args.out / "registry" / "clinc150"
    registry = FileRegistry(args.out / "registry")
    used = _ids_in(root / "datasets")
    every = load_clinc150(args.clinc, "val")
    val = [e for e in every if e.id not in used]
    chain = _releases(root / "alias-history.jsonl")
    first = registry.load_adapter("clinc150", chain[0])
    texts = [e.text for e in val]
    x = first._head_features(first._frozen_embeddings(texts), texts)
    y = np.array([first.labels_.index(e.label) for e in val])
    heads = {v: registry.load_adapter("clinc150", v)._head_weights() for v in chain}
    print(f"CLINC150 val less the {len(every) - len(val)} queries the deployment used: {len(val)} queries\n")
    print("| release | candidate | weight | val accuracy | negative flips | fixes |\n| --- | --- | --- | --- | --- | --- |")
    for i, (parent, version) in enumerate(itertools.pairwise(chain), start=1):
        stored = registry.get_manifest("clinc150", version).recipe
        recipe = stored.get("recipe", stored)  # the trainer stores the recipe beside its curriculum
        w = float(recipe.get("blend", 1.0))
        base, head = heads[parent], heads[version]
        candidate = tuple((h - (1 - w) * p) / w for h, p in zip(head, base, strict=True))
        for weight in sorted({w, *WEIGHTS}, reverse=True):
            mark = " (released)" if weight == w else ""
            print(f"| r{i} | {recipe.get('name')} | {weight:g}{mark} | {_count(x, y, base, _mix(candidate, base, weight))} |")
        before = base
        for weight in (0.25, 0.5, 0.75, 1.0):
            now = _mix(candidate, base, weight)
            print(f"| r{i} | chain of quarter steps | to {weight:g} | {_count(x, y, before, now)} |")
            before = now
        if args.refit and recipe.get("warm_start"):
            _refits(registry, parent, version, stored, val, f"r{i}")


def _refits(registry, parent: str, version: str, stored: dict, val, name: str) -> None:
    """The release's data refitted from its parent's, with the deployment's head and with no n-grams."""
    import dataclasses

    from pioneer.training import ClassificationAdapter

    before = registry.get_dataset("clinc150", registry.get_manifest("clinc150", parent).training_data)
    after = registry.get_dataset("clinc150", registry.get_manifest("clinc150", version).training_data)
    curriculum = registry.get_dataset("clinc150", stored["curriculum"])
    repeats = int(stored.get("recipe", {}).get("curriculum_repeat", 2))
    after += [dataclasses.replace(e, id=f"{e.id}#{k}") for k in range(1, repeats) for e in curriculum]
    config = registry.load_adapter("clinc150", version).config
    for ngrams in (config.char_ngrams, 0):
        cfg = dataclasses.replace(config, char_ngrams=ngrams)
        old = ClassificationAdapter(cfg).fit(before)
        new = ClassificationAdapter(cfg).fit(after, start_from=old)
        texts = [e.text for e in val]
        x = old._head_features(old._frozen_embeddings(texts), texts)
        y = np.array([old.labels_.index(e.label) for e in val])
        base, candidate = old._head_weights(), new._head_weights()
        for weight in WEIGHTS:
            print(f"| {name} | refit of its data, {ngrams} n-gram buckets | {weight:g} | "
                  f"{_count(x, y, base, _mix(candidate, base, weight))} |", flush=True)


def _ids_in(folder: Path) -> set[str]:
    """Every example id in the registry's stored data sets (validation, gate, R, training data)."""
    ids = set()
    for path in folder.glob("*.jsonl"):
        with path.open() as lines:
            ids.update(json.loads(line)["id"] for line in lines if line.strip())
    return ids


def _releases(history: Path) -> list[str]:
    """Production's versions in the order the alias moved to them."""
    moves = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    return [m["to_version"] for m in sorted(moves, key=lambda m: m["seq"]) if m["alias"] == "production"]


def _mix(candidate, base, weight: float):
    return tuple(weight * c + (1 - weight) * b for c, b in zip(candidate, base, strict=True))


def _count(x, y, before, after) -> str:
    """Accuracy of ``after``, and its negative flips and fixes against ``before``, as table cells."""
    old = np.asarray(x @ before[0].T + before[1]).argmax(1) == y
    new = np.asarray(x @ after[0].T + after[1]).argmax(1) == y
    return f"{new.mean():.4f} | {int((old & ~new).sum())} | {int((~old & new).sum())}"


if __name__ == "__main__":
    main()
