"""Does a uniform weight soup of tagger fits beat one fit? (Wortsman et al., "Model soups", ICML 2022.)

Measured on cold start's exploration draw, which no bench cell uses: a seed-7 draw of CoNLL-2003, 20 user
sentences and 150 labelled by the simulated teacher at 20% error, scored on the next 200 sentences of the same
draw of the *training* split (never a test split). Each fit is the default tagger on all 170 sentences with one
training seed; a soup averages the weights of several such fits, tensor by tensor.

``--shared-init`` gives every fit the seed-0 head (tag classifier and casing embedding), so the fits differ only
in data order and dropout, as the soups of the paper do (they share the whole initialisation).

    nice -n 5 python scripts/tagger_soup.py --seeds 0 1 2 --out soup.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

DRAW_SEED, USER, POOL, SCORED, ERROR_RATE = 7, 20, 150, 200, 0.2


def exploration_draw(datasets: Path):
    """(the 170 sentences as cold start acquires them, the 200 scored training-split sentences, wrong answers)."""
    from pioneer.bench.coldstart import _distinct, _shuffled, entity_task
    from pioneer.coldstart import SimulatedTeacher
    from pioneer.coldstart.task import analyse_task
    from pioneer.coldstart.teacher import parse_spans
    from pioneer.data import load_conll
    from pioneer.training.base import Example

    task = entity_task(datasets, "conll2003", examples=USER, pool=POOL, test=1, seed=DRAW_SEED)
    drawn = _distinct(_shuffled(load_conll(datasets / "conll2003" / "train.txt"), DRAW_SEED))
    scored = drawn[USER + POOL: USER + POOL + SCORED]
    assert not {e.text for e in scored} & {e.text for e in task.train}
    spec = analyse_task(task.description, kind=task.kind, labels=task.labels)
    teacher = SimulatedTeacher(task.gold, error_rate=ERROR_RATE)
    answered = [Example(text=t, id=f"teacher:{k}", spans=parse_spans(teacher.classify(t, spec), t, spec.labels))
                for k, t in enumerate(task.unlabeled)]
    wrong = sum(set(a.spans or ()) != set(task.gold[a.text]) for a in answered)
    return [*task.examples, *answered], scored, wrong


def fit(train, seed: int, shared_init: bool):
    from transformers import set_seed

    from pioneer.bench.coldstart import _default_adapter

    adapter = _default_adapter("entity_extraction", settings={"seed": seed})
    if shared_init:
        build = adapter._build_model

        def seeded_build(start, types):
            set_seed(0)  # the seed-0 head; the Trainer then reseeds data order and dropout with `seed`
            return build(start, types)

        adapter._build_model = seeded_build
    return adapter.fit(train)


def soup(fits):
    """A copy of the first fit carrying the uniform average of every fit's weights."""
    import copy

    import torch

    states = [f._model.state_dict() for f in fits]
    mean = {k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v for k, v in states[0].items()}
    souped = copy.copy(fits[0])
    souped._model = copy.deepcopy(fits[0]._model)
    with torch.no_grad():
        souped._model.load_state_dict(mean)
    souped._model.eval()
    return souped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shared-init", action="store_true")
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, required=True, help="JSON lines of every figure, appended as they come")
    args = parser.parse_args()
    import time

    train, scored, wrong = exploration_draw(args.datasets)
    print(f"draw seed {DRAW_SEED}: {len(train)} training sentences ({wrong} teacher answers wrong), {len(scored)} scored")
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def record(name: str, model, seconds: float) -> None:
        f1 = model.evaluate(scored).metric
        row = {"model": name, "f1": round(f1, 4), "shared_init": args.shared_init, "seconds": round(seconds, 1)}
        print(json.dumps(row), flush=True)
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    fits = []
    for seed in args.seeds:
        started = time.monotonic()
        fits.append(fit(train, seed, args.shared_init))
        record(f"fit seed {seed}", fits[-1], time.monotonic() - started)
        if len(fits) == 1:  # a soup of one fit with itself is that fit: checks the averaging before it matters
            record(f"soup of seeds [{seed}, {seed}]", soup([fits[0], fits[0]]), 0.0)
    for k in range(2, len(fits) + 1):
        for chosen in itertools.combinations(range(len(fits)), k):
            record(f"soup of seeds {[args.seeds[i] for i in chosen]}", soup([fits[i] for i in chosen]), 0.0)


if __name__ == "__main__":
    main()
