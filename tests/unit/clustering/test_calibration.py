"""Self-calibration: thresholds follow the geometry of the traffic, not constants fitted to one dataset."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from pioneer.clustering import IncrementalClusterer
from pioneer.clustering.calibration import GeometryCalibrator

D = 32


def unit_rows(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def blobs(rng: np.random.Generator, k: int, n: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """``k`` blobs of ``n`` points around orthogonal directions (axes 1..k; axis 0 is kept free), shuffled."""
    y = np.repeat(np.arange(k), n)
    X = np.eye(D)[1 + y] + spread * rng.standard_normal((k * n, D)) / np.sqrt(D)
    X[:, 0] = 0.0
    order = rng.permutation(len(y))
    return unit_rows(X[order]), y[order]


def calibrated(X: np.ndarray) -> GeometryCalibrator:
    cal = GeometryCalibrator()
    for x in X:
        cal.observe(x, failed=True)
    cal.refresh()
    return cal


def test_tight_blobs_raise_the_joining_threshold_and_a_diffuse_blob_lowers_it() -> None:
    rng = np.random.default_rng(0)
    tight, _ = blobs(rng, 2, 300, spread=0.3)
    diffuse, _ = blobs(rng, 1, 600, spread=2.0)
    tau_tight, tau_diffuse = calibrated(tight).join_threshold_, calibrated(diffuse).join_threshold_
    assert tau_tight > 0.8
    assert tau_diffuse < 0.6
    assert tau_tight - tau_diffuse > 0.3


def test_the_common_direction_is_found_and_its_removal_fades_in() -> None:
    rng = np.random.default_rng(1)
    X, _ = blobs(rng, 3, 100, spread=0.3)
    X = unit_rows(X + 2.0 * np.eye(D)[0])  # every request shares one strong component
    cal = GeometryCalibrator()
    cal.observe(X[0], failed=True)
    early = cal.removal_
    for x in X[1:]:
        cal.observe(x, failed=True)
    cal.refresh()
    assert early < 0.1
    assert cal.removal_ > 0.9
    assert cal.direction_ @ np.eye(D)[0] > 0.95
    # Projected, the blobs are about orthogonal again although their raw cosines are all high.
    assert (X[:50] @ X[:50].T).min() > 0.6
    P = cal.centred(X)
    assert abs(float(np.mean(P[:100] @ P[100:200].T))) < 0.2


def test_learn_many_and_learn_one_gather_the_same_kind_of_evidence() -> None:
    rng = np.random.default_rng(2)
    X, _ = blobs(rng, 2, 200, spread=0.3)
    one, many = GeometryCalibrator(), GeometryCalibrator()
    for x in X:
        one.observe(x, failed=True)
    for start in range(0, len(X), 64):
        batch = X[start : start + 64]
        many.observe_many(batch, np.ones(len(batch), dtype=bool), np.ones(len(batch)))
    one.refresh()
    many.refresh()
    assert many.join_threshold_ == pytest.approx(one.join_threshold_, abs=0.05)
    assert float(many.direction_ @ one.direction_) > 0.999


@pytest.mark.parametrize("shared", [2.0, 6.0])
def test_a_shared_component_of_any_strength_leaves_the_partition_unchanged(shared: float) -> None:
    """The same blobs, pushed together by a common component (raw cosines near 1), cluster the same way."""
    rng = np.random.default_rng(3)
    X, y = blobs(rng, 4, 120, spread=0.5)
    crowded = unit_rows(X + shared * np.eye(D)[0])
    assert float(np.mean(crowded[y == 0] @ crowded[y == 1].T)) > 0.75  # a fixed cosine cut could not split them

    def partition(Z: np.ndarray) -> np.ndarray:
        clu = IncrementalClusterer(seed=0)
        for i, z in enumerate(Z):
            clu.learn_one(z, t=float(i))
        return clu.predict_many(Z)

    plain, pushed = partition(X), partition(crowded)
    assert adjusted_rand_score(y, plain) > 0.95
    assert adjusted_rand_score(plain, pushed) > 0.95


def test_denser_sampling_of_the_same_blobs_gives_the_same_partition() -> None:
    rng = np.random.default_rng(4)
    sparse, y_sparse = blobs(rng, 4, 60, spread=0.5)
    dense, y_dense = blobs(rng, 4, 240, spread=0.5)
    for X, y in ((sparse, y_sparse), (dense, y_dense)):
        clu = IncrementalClusterer(seed=0)
        for i, x in enumerate(X):
            clu.learn_one(x, t=float(i))
        assert clu.n_clusters_ == 4
        assert adjusted_rand_score(y, clu.predict_many(X)) > 0.95


def test_invalid_calibrator_parameters_are_refused() -> None:
    for kwargs in ({"window": 1}, {"quantile": 1.0}, {"memory": 0.0}, {"sample_every": 0}, {"refresh_every": 0}):
        with pytest.raises(ValueError):
            GeometryCalibrator(**kwargs)


def test_one_shared_confusion_joins_phrasings_that_geometry_alone_keeps_apart() -> None:
    rng = np.random.default_rng(5)
    X, y = blobs(rng, 2, 80, spread=0.3)
    X = unit_rows(X + 0.15 * np.eye(D)[1] + 0.15 * np.eye(D)[2])  # two phrasings, on the same side
    background, _ = blobs(rng, 6, 40, spread=0.3)

    def clusters(confusions: list[tuple[str, str]] | None) -> int:
        clu = IncrementalClusterer(seed=0)
        for i, b in enumerate(background):  # passing traffic elsewhere sets the geometry
            clu.learn_one(np.roll(b, 8), t=float(i), failed=False)
        for i, x in enumerate(X):
            exp, pred = confusions[y[i]] if confusions else (None, None)
            clu.learn_one(x, t=float(len(background) + i), expected=exp, predicted=pred)
        return clu.n_clusters_

    assert clusters(None) == 2
    assert clusters([("transfer", "balance"), ("transfer", "balance")]) == 1
    assert clusters([("transfer", "balance"), ("card_lost", "balance")]) == 2


def test_a_state_saved_before_its_regrouping_restores_and_answers_the_same() -> None:
    """Micro-clusters added since the last regrouping leave the saved labels shorter than the clusters."""
    rng = np.random.default_rng(0)
    clusterer = IncrementalClusterer(pass_sample_rate=0.1, seed=0)
    for batch in range(10):
        X = rng.normal(size=(500, 32)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        clusterer.learn_many(X, t=np.arange(batch * 500, (batch + 1) * 500, dtype=float),
                             failed=rng.random(500) < 0.3, expected=["a"] * 500, predicted=["b"] * 500)
    restored = IncrementalClusterer.from_bytes(clusterer.to_bytes())
    assert restored.n_clusters_ == clusterer.n_clusters_
    probe = X[:50]
    assert [restored.assign_one(x) for x in probe] == [clusterer.assign_one(x) for x in probe]
