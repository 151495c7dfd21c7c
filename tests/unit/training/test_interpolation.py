"""BCWI on real heads: the weight searched against R keeps the flip contract where the candidate breaks it."""

from __future__ import annotations

import dataclasses

import pytest

from pioneer.data import load_clinc150, subsample
from pioneer.gates import FlipContract
from pioneer.training import ClassificationAdapter, ClassificationConfig
from pioneer.training.interpolation import WeightSearch
from tests.unit.retrain.scenario import CLINC, KNOWN

pytestmark = pytest.mark.slow


def test_the_searched_weight_is_the_largest_that_keeps_the_contract_on_r() -> None:
    train = [e for e in load_clinc150(CLINC, "train") if e.label in KNOWN]
    r = subsample([e for e in load_clinc150(CLINC, "val") if e.label in KNOWN], per_label=30, seed=3)
    production = ClassificationAdapter(ClassificationConfig()).fit(subsample(train, per_label=10, seed=1))
    # A candidate refitted on data where a third of "balance" queries are labelled "transfer": it breaks R.
    more = subsample(train, per_label=30, seed=2)
    noisy = [dataclasses.replace(e, label="transfer") if e.label == "balance" and k % 3 == 0 else e
             for k, e in enumerate(more)]
    candidate = ClassificationAdapter(ClassificationConfig()).fit(noisy, start_from=production)

    base = production.evaluate(r).correct_by_id()
    contract = FlipContract(epsilon=2, max_rate=0.01)

    def verdict(adapter):
        on_r = adapter.evaluate(r).correct_by_id()
        return contract.judge(sum(1 for i, ok in base.items() if ok and not on_r[i]), sum(base.values()))

    assert not verdict(candidate).passed  # the refit breaks R as it is
    search = WeightSearch(steps=6)
    found = search.search(lambda w: candidate if w >= 1 else candidate.blend(production, w), lambda a: verdict(a).passed)
    assert found is not None
    weight, blended = found
    assert 0 < weight < 1 and verdict(blended).passed
    assert not verdict(candidate.blend(production, weight + 2 ** -search.steps)).passed  # one step more breaks it
    # ... and it keeps part of the candidate's step: its predictions differ from production's somewhere
    texts = [e.text for e in r]
    assert [o.label for o in blended.predict(texts)] != [o.label for o in production.predict(texts)]
