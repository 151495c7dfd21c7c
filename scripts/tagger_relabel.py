"""Can cheap cross-fitted fold models correct the teacher's entity labels well enough to help the tagger?

Measured on cold start's exploration draw, which no bench cell uses (``tagger_soup.exploration_draw``: a seed-7
draw of CoNLL-2003, 20 user sentences and 150 labelled by the simulated teacher at 20% error, scored on the next
200 sentences of the training split, never a test split).

Fold models: the 150 teacher sentences split into ``--folds`` by a hash of their id (as ``disputed_labels``
does); each fold is predicted by a per-word logistic regression (the classification head's C=10) on frozen
MiniLM last-layer embeddings of each word's first piece plus a casing one-hot (as the tagger's classifier reads
it), fitted on the other folds and the user sentences; ``--fold-model tagger`` fits the default tagger
instead. A teacher word is disputed where the predicted tag beats the teacher's tag by ``--margins`` in
probability (0.2, the classification check's constant); ``words`` replaces the teacher's tags on the disputed
words, ``sentence`` replaces a disputed sentence's tags with the fold model's (Viterbi-decoded).

Then the default tagger (125 steps) is fitted on the teacher labels as they are, on each relabelling, and on
the gold labels (the ceiling of any correction), and scored on the 200 sentences.

    nice -n 5 python scripts/tagger_relabel.py --seeds 0 1 --out relabel.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

from tagger_soup import DRAW_SEED, POOL, USER, exploration_draw, fit


def word_features(texts):
    """Per text: (word character offsets, words × (encoder width + casing one-hot) features), encoder frozen."""
    import numpy as np
    import torch

    from pioneer.training import EntityExtractionAdapter, EntityExtractionConfig
    from pioneer.training.backbone import load_base_encoder
    from pioneer.training.encoders import CASING_CLASSES

    adapter = EntityExtractionAdapter(EntityExtractionConfig())
    adapter._tokenizer, encoder = load_base_encoder(adapter.config)
    encoder.eval()
    out = []
    with torch.inference_mode():
        for item in adapter._encode(texts):
            batch = {"input_ids": torch.tensor([item.input_ids]), "attention_mask": torch.tensor([item.attention_mask])}
            if item.token_type_ids is not None:
                batch["token_type_ids"] = torch.tensor([item.token_type_ids])
            hidden = encoder(**batch).last_hidden_state[0].numpy()
            casing = np.eye(len(CASING_CLASSES), dtype=np.float32)[[item.casing_ids[p] for p in item.first_pieces]]
            out.append((item.word_offsets, np.hstack([hidden[item.first_pieces], casing])))
    return out


def tagger_probabilities(adapter, texts):
    """Per text, the fitted tagger's tag probabilities (words × tags) on each word's first piece."""
    import torch

    out = []
    with torch.inference_mode():
        for item in adapter._encode(texts):
            batch = {k: torch.tensor([v]).to(adapter._device) for k, v in adapter._features(item).items()}
            logits = adapter._model(**batch).logits.float()[0, item.first_pieces]
            out.append(torch.softmax(logits, dim=-1).cpu().numpy())
    return out


def fold_probabilities(train, features, tags, folds: int, fold_model: str = "head"):
    """Tag probabilities (words × tags) of each teacher sentence, from a model fitted without its fold:
    ``head`` the frozen-encoder logistic regression, ``tagger`` the default tagger (training seed 0)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from pioneer.data.bio import spans_to_tags

    tag_id = {t: i for i, t in enumerate(tags)}
    word_tags = [[tag_id[t] for t in spans_to_tags(e.spans or (), offsets)] for e, (offsets, _) in zip(train, features)]
    fold_of = [int(hashlib.sha256(e.id.encode()).hexdigest(), 16) % folds if e.id.startswith("teacher:") else -1
               for e in train]
    probabilities = {}
    for k in range(folds):
        rest = [i for i, f in enumerate(fold_of) if f != k]
        held = [i for i, f in enumerate(fold_of) if f == k]
        if fold_model == "tagger":
            adapter = fit([train[i] for i in rest], 0, False)
            assert adapter.tags_ == list(tags), adapter.tags_
            probabilities.update(zip(held, tagger_probabilities(adapter, [train[i].text for i in held]), strict=True))
            continue
        model = LogisticRegression(C=10.0, max_iter=1000)
        model.fit(np.vstack([features[i][1] for i in rest]), [t for i in rest for t in word_tags[i]])
        for i in held:
            full = np.zeros((len(features[i][0]), len(tags)))
            full[:, model.classes_] = model.predict_proba(features[i][1])
            probabilities[i] = full
    return probabilities, word_tags


def relabel(example, offsets, probabilities, teacher_tags, tags, mode: str, margin: float):
    """``example`` with the fold model's tags where it disputes the teacher by ``margin`` (unchanged if nowhere)."""
    import numpy as np

    from pioneer.data.bio import tags_to_spans
    from pioneer.training.entity_extraction import _allowed_transitions, _viterbi

    rows = np.arange(len(teacher_tags))
    predicted = probabilities.argmax(axis=1)
    disputed = probabilities[rows, predicted] - probabilities[rows, teacher_tags] >= margin
    if not disputed.any():
        return example, 0
    if mode == "words":
        new = [int(p) if d else t for p, d, t in zip(predicted, disputed, teacher_tags)]
    else:
        new = _viterbi(np.log(probabilities + 1e-12), _allowed_transitions(tags))
    spans = tags_to_spans([tags[t] for t in new], offsets, example.text)
    return replace(example, spans=tuple(spans)), int(disputed.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--fold-model", choices=["head", "tagger"], default="head")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.2],
                        help="dispute margins to count; the tagger fits use the first")
    parser.add_argument("--fits", nargs="*", default=["teacher", "words", "sentence", "gold"])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, required=True, help="JSON lines of every figure, appended as they come")
    args = parser.parse_args()
    from pioneer.bench.coldstart import entity_task
    from pioneer.data.bio import OUTSIDE
    from pioneer.metrics import span_scores

    def record(row: dict) -> None:
        print(json.dumps(row), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    train, scored, wrong = exploration_draw(args.datasets)
    gold = entity_task(args.datasets, "conll2003", examples=USER, pool=POOL, test=1, seed=DRAW_SEED).gold
    types = sorted({s.label for e in train for s in e.spans or ()})
    tags = [OUTSIDE] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    teacher = [i for i, e in enumerate(train) if e.id.startswith("teacher:")]
    is_wrong = {i: set(train[i].spans or ()) != set(gold[train[i].text]) for i in teacher}
    print(f"draw seed {DRAW_SEED}: {len(train)} sentences, {wrong} teacher answers wrong, {len(scored)} scored")

    started = time.monotonic()
    features = word_features([e.text for e in train])
    encoded = time.monotonic() - started
    probabilities, word_tags = fold_probabilities(train, features, tags, args.folds, args.fold_model)
    sets = {"teacher": train, "gold": [replace(e, spans=tuple(gold[e.text])) for e in train]}
    truth = [list(gold[train[i].text]) for i in teacher]
    fold_only = [relabel(train[i], features[i][0], probabilities[i], word_tags[i], tags, "sentence", -1.0)[0]
                 for i in teacher]  # margin -1: every sentence takes the fold model's tags, to score the model itself
    record({"fold_model": args.fold_model, "seconds_folds": round(time.monotonic() - started - encoded, 1),
            "fold_model_f1_vs_gold": round(span_scores([e.spans or [] for e in fold_only], truth).f1, 4),
            "teacher_f1_vs_gold": round(span_scores([train[i].spans or [] for i in teacher], truth).f1, 4)})
    for margin in args.margins:
        for mode in ("words", "sentence"):
            relabelled, disputed_words = list(train), 0
            for i in teacher:
                relabelled[i], n = relabel(train[i], features[i][0], probabilities[i], word_tags[i], tags, mode, margin)
                disputed_words += n
            changed = [i for i in teacher if set(relabelled[i].spans or ()) != set(train[i].spans or ())]
            fixed = [i for i in changed if is_wrong[i] and set(relabelled[i].spans) == set(gold[train[i].text])]
            after = span_scores([relabelled[i].spans or [] for i in teacher], truth)
            record({"fold_model": args.fold_model, "relabel": mode, "margin": margin, "folds": args.folds,
                    "disputed_words": disputed_words,
                    "sentences_changed": len(changed), "wrong_changed": sum(is_wrong[i] for i in changed),
                    "wrong_corrected": len(fixed), "wrong_total": sum(is_wrong.values()),
                    "right_damaged": sum(not is_wrong[i] for i in changed), "labels_f1_vs_gold": round(after.f1, 4),
                    "seconds_encode": round(encoded, 1), "seconds_total": round(time.monotonic() - started, 1)})
            if margin == args.margins[0]:
                sets[mode] = relabelled

    for seed in args.seeds:
        for name in args.fits:
            began = time.monotonic()
            f1 = fit(sets[name], seed, False).evaluate(scored).metric
            record({"fold_model": args.fold_model, "labels": name, "seed": seed, "f1": round(f1, 4),
                    "seconds": round(time.monotonic() - began, 1)})


if __name__ == "__main__":
    main()
