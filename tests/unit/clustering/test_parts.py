"""The clusterer's parts: linkage, stable ids, naming, decay and the checkpoint format."""

from __future__ import annotations

import numpy as np
import pytest

from pioneer.clustering.decay import ForwardDecay
from pioneer.clustering.lifecycle import match_groups, next_state
from pioneer.clustering.linkage import coherence, group_micro_clusters
from pioneer.clustering.naming import cluster_name, ctfidf_keywords, tokenize
from pioneer.clustering.state import pack, unpack, write_atomic


def points_as_micro(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(X)
    return X.astype(float), np.ones(n), np.ones(n)


def test_linkage_separates_blobs_and_is_order_independent() -> None:
    rng = np.random.default_rng(0)
    centers = np.eye(8)[:3]
    X = np.concatenate([c + 0.1 * rng.standard_normal((15, 8)) for c in centers])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    labels = group_micro_clusters(*points_as_micro(X), threshold=0.6)
    assert len(set(labels.tolist())) == 3
    assert all(len(set(labels[i * 15 : (i + 1) * 15].tolist())) == 1 for i in range(3))
    perm = rng.permutation(len(X))
    relabelled = group_micro_clusters(*points_as_micro(X[perm]), threshold=0.6)
    # Same partition whatever the order (labels themselves follow first appearance).
    pairs = {(a, b) for a, b in zip(labels[perm].tolist(), relabelled.tolist(), strict=True)}
    assert len(pairs) == 3


def test_linkage_is_scale_free_in_weights() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 8))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    S, W, Q = points_as_micro(X)
    a = group_micro_clusters(S, W, Q, threshold=0.5)
    b = group_micro_clusters(S * 37.0, W * 37.0, Q * 37.0**2, threshold=0.5)
    assert a.tolist() == b.tolist()


def test_coherence_of_identical_points_is_one_and_singletons_get_the_prior() -> None:
    from pioneer.clustering.linkage import PRIOR_COHERENCE

    S = 4 * np.array([1.0, 0.0])
    assert coherence(np.array([S @ S]), np.array([4.0]), np.array([4.0]))[0] > PRIOR_COHERENCE
    assert coherence(np.array([1.0]), np.array([1.0]), np.array([1.0]))[0] == pytest.approx(PRIOR_COHERENCE)
    big = coherence(np.array([1e6**2]), np.array([1e6]), np.array([1e6]))[0]
    assert big == pytest.approx(1.0, abs=1e-4)


def test_match_groups_split_keeps_the_id_on_the_heavier_part() -> None:
    prev = np.array([3, 3, 3])
    labels = np.array([0, 1, 1])
    ids, merged, nxt = match_groups(prev, labels, np.array([1.0, 5.0, 5.0]), np.array([True, True]), 4)
    assert ids.tolist() == [4, 3] and merged == {} and nxt == 5


def test_match_groups_ineligible_groups_get_no_id_and_vanished_ids_are_not_merges() -> None:
    ids, merged, nxt = match_groups(np.array([1, 2]), np.array([0, 1]), np.array([5.0, 0.5]),
                                    np.array([True, False]), 7)
    assert ids.tolist() == [1, -1] and merged == {} and nxt == 7


@pytest.mark.parametrize(("prev", "growth", "state"), [(None, 9.0, "born"), ("born", 1.0, "stable"),
                                                       ("stable", 2.0, "growing"), ("growing", 0.3, "fading")])
def test_next_state(prev: str | None, growth: float, state: str) -> None:
    assert next_state(prev, growth=growth, growing_ratio=1.5, fading_ratio=0.5) == state


def test_ctfidf_prefers_words_specific_to_a_cluster() -> None:
    docs = [["my card was stolen", "card stolen yesterday"], ["my card payment failed", "payment declined"]]
    kw = ctfidf_keywords(docs, top_k=1)
    assert kw == [["stolen"], ["payment"]]
    assert ctfidf_keywords([[]], top_k=3) == [[]]
    assert cluster_name([]) == "unnamed"
    assert tokenize("I can't log IN to my Account!") == ["log", "account"]


def test_forward_decay_rebase_preserves_values() -> None:
    clock = ForwardDecay(half_life=5.0)
    stored = clock.weight(0.0) + clock.weight(20.0)
    value = stored * clock.factor(25.0)
    stored *= clock.rebase(25.0)
    assert stored * clock.factor(25.0) == pytest.approx(value)
    with pytest.raises(ValueError):
        ForwardDecay(half_life=0.0)


def test_state_format_refuses_object_arrays_and_round_trips(tmp_path) -> None:
    with pytest.raises(ValueError):
        pack({"x": np.array([{"a": 1}], dtype=object)}, {})
    blob = pack({"x": np.arange(4, dtype=np.int64)}, {"k": [1, "a"]})
    arrays, meta = unpack(blob)
    assert arrays["x"].tolist() == [0, 1, 2, 3] and meta == {"k": [1, "a"]}
    write_atomic(tmp_path / "s.npz", blob)
    assert (tmp_path / "s.npz").read_bytes() == blob
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]
    with pytest.raises(ValueError):
        unpack(b"garbage")
