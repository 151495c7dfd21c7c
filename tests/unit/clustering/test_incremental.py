"""IncrementalClusterer: parameters, the hot path, memory bound, decay, lifecycle and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from pioneer.clustering import IncrementalClusterer
from pioneer.errors import NotFittedError

D = 16


def direction(i: int) -> np.ndarray:
    return np.eye(D)[i]


def near(rng: np.random.Generator, i: int, spread: float = 0.05) -> np.ndarray:
    return direction(i) + spread * rng.standard_normal(D)


def feed(
    clu: IncrementalClusterer, rng: np.random.Generator, i: int, n: int, t0: float, dt: float = 1.0, **kw
) -> float:
    t = t0
    for _ in range(n):
        clu.learn_one(near(rng, i), t=t, **kw)
        t += dt
    return t


# ---------------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0.0},
        {"threshold": 1.5},
        {"link_threshold": 0.0},
        {"half_life": -1.0},
        {"recent_half_life": 100.0, "half_life": 50.0},
        {"max_micro_clusters": 0},
        {"max_micro_clusters": 2.5},
        {"prune_weight": 5.0, "min_weight": 3.0},
        {"pass_sample_rate": 0.0},
        {"maintain_every": 0},
        {"growing_ratio": 0.9},
        {"fading_ratio": 1.0},
        {"seed": "x"},
    ],
)
def test_invalid_parameters_are_refused_at_construction(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        IncrementalClusterer(**kwargs)


def test_clone_repr_and_defaults() -> None:
    clu = IncrementalClusterer(threshold=0.7, seed=3)
    twin = clu.clone()
    assert twin.get_params() == clu.get_params()
    assert "threshold=0.7" in repr(clu)
    assert clu.clone(threshold=0.5).threshold == 0.5
    with pytest.raises(ValueError):
        clu.clone(nonsense=1)
    for value in IncrementalClusterer().get_params().values():
        assert value is None or isinstance(value, (int, float, str, bool, tuple))


def test_queries_before_learning_raise_not_fitted() -> None:
    clu = IncrementalClusterer()
    with pytest.raises(NotFittedError):
        clu.assign_one(direction(0))
    with pytest.raises(NotFittedError):
        clu.snapshot()


# ---------------------------------------------------------------------------------------------------- hot path


def test_learn_one_returns_self_and_leaves_input_alone() -> None:
    clu = IncrementalClusterer()
    x = np.array([3.0, 4.0] + [0.0] * (D - 2))
    before = x.copy()
    assert clu.learn_one(x, t=0.0) is clu
    np.testing.assert_array_equal(x, before)
    assert clu.dim_ == D and clu.n_updates_ == 1


def test_rejects_bad_vectors_and_times() -> None:
    clu = IncrementalClusterer()
    with pytest.raises(ValueError):
        clu.learn_one(np.zeros(D), t=0.0)
    clu.learn_one(direction(0), t=0.0)
    with pytest.raises(ValueError):
        clu.learn_one(np.ones(D + 1), t=1.0)
    with pytest.raises(ValueError):
        clu.learn_one(direction(0), t=float("nan"))


def test_separate_directions_make_separate_clusters_and_assign_finds_them() -> None:
    rng = np.random.default_rng(0)
    clu = IncrementalClusterer(seed=0)
    t = feed(clu, rng, 0, 20, 0.0)
    feed(clu, rng, 1, 20, t)
    assert clu.n_clusters_ == 2
    a, b = clu.assign_one(direction(0)), clu.assign_one(direction(1))
    assert a is not None and b is not None and a != b
    assert clu.assign_one(direction(5)) is None
    labels = clu.predict_many(np.stack([direction(0), direction(1), direction(5)]))
    assert labels.tolist() == [a, b, -1]


def test_passes_never_create_or_move_clusters() -> None:
    rng = np.random.default_rng(1)
    clu = IncrementalClusterer(seed=0)
    feed(clu, rng, 0, 10, 0.0)
    centroids = clu.micro_centroids_.copy()
    for t in range(10, 60):
        clu.learn_one(near(rng, t % D), t=float(t), failed=False)
    assert clu.n_micro_clusters_ == len(centroids)
    np.testing.assert_array_equal(clu.micro_centroids_, centroids)


def test_sampled_passes_are_weighted_by_the_sample_rate() -> None:
    rng = np.random.default_rng(2)
    clu = IncrementalClusterer(pass_sample_rate=0.1, recent_half_life=1e6, half_life=1e7, seed=0)
    feed(clu, rng, 0, 20, 0.0)
    feed(clu, rng, 0, 5, 20.0, failed=False)
    (cluster,) = clu.snapshot().clusters
    assert cluster.passes_sampled_recent == pytest.approx(5.0, rel=1e-3)
    assert cluster.passes_recent == pytest.approx(50.0, rel=1e-3)
    assert cluster.failures_recent == pytest.approx(20.0, rel=1e-3)
    assert cluster.traffic_share == pytest.approx(1.0)


def test_learn_many_row_by_row_is_learn_one_and_in_batches_agrees_with_it() -> None:
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(3)
    X = np.stack([near(rng, i % 6, 0.3) for i in range(600)])
    ts = np.arange(600, dtype=float)
    failed = rng.random(600) < 0.7
    params = {"max_micro_clusters": 40, "maintain_every": 100, "seed": 0}
    one = IncrementalClusterer(**params)
    rows = IncrementalClusterer(**params)
    for x, t, f in zip(X, ts, failed, strict=True):
        one.learn_one(x, t=t, failed=bool(f))
        rows.learn_many(x[None, :], t=t, failed=bool(f))
    from pioneer.clustering.state import unpack

    (arrays_rows, meta_rows), (arrays_one, meta_one) = unpack(rows.to_bytes()), unpack(one.to_bytes())
    for name, arr in arrays_one.items():  # equal up to float rounding (vectorised vs scalar arithmetic)
        scale = max(1.0, float(np.abs(arr).max())) if arr.size and arr.dtype.kind == "f" else 1.0
        np.testing.assert_allclose(arrays_rows[name], arr, rtol=1e-6, atol=1e-6 * scale, err_msg=name)
    rounded = ("global", "calibration")
    assert {k: v for k, v in meta_rows.items() if k not in rounded} == {k: v for k, v in meta_one.items() if k not in rounded}
    assert meta_rows["calibration"] == pytest.approx(meta_one["calibration"], rel=1e-6)
    batched = IncrementalClusterer(**params).learn_many(X, t=ts, failed=failed)
    assert batched.n_updates_ == one.n_updates_
    a, b = one.snapshot(), batched.snapshot()
    assert b.failures_recent == pytest.approx(a.failures_recent)
    assert b.passes_sampled_recent == pytest.approx(a.passes_sampled_recent)
    # Mini-batches see the geometry a batch later, so the partitions differ a little; both find the directions.
    truth = np.arange(600) % 6
    assert adjusted_rand_score(truth, one.predict_many(X)) > 0.7
    assert adjusted_rand_score(truth, batched.predict_many(X)) > 0.7
    assert adjusted_rand_score(one.predict_many(X), batched.predict_many(X)) > 0.8


def test_learn_many_checks_its_inputs_before_learning_anything() -> None:
    clu = IncrementalClusterer()
    X = np.stack([direction(0), direction(1)])
    for bad in ({"t": [0.0, float("nan")]}, {"t": 0.0, "texts": ["only one"]}, {"t": [0.0, -1.0]}):
        with pytest.raises(ValueError):
            clu.learn_many(X, **bad)
    with pytest.raises(ValueError):
        clu.learn_many(np.stack([direction(0), np.zeros(D)]), t=0.0)
    assert clu.n_updates_ == 0


# ---------------------------------------------------------------------------------------------------- memory and decay


def test_micro_clusters_are_capped_and_the_lightest_is_evicted() -> None:
    rng = np.random.default_rng(4)
    clu = IncrementalClusterer(max_micro_clusters=5, seed=0)
    feed(clu, rng, 0, 30, 0.0)  # one heavy micro-cluster
    nbytes = clu.nbytes_
    for t in range(30, 400):
        clu.learn_one(rng.standard_normal(D), t=float(t))  # scattered singletons
        assert clu.n_micro_clusters_ <= 5
    assert clu.nbytes_ == nbytes
    assert clu.assign_one(direction(0)) is not None  # the heavy one survived every eviction


def test_decay_follows_event_time_not_wall_clock() -> None:
    rng = np.random.default_rng(5)
    clu = IncrementalClusterer(half_life=100.0, recent_half_life=10.0, seed=0)
    feed(clu, rng, 0, 10, 0.0, dt=0.0)
    size_now = clu.snapshot(now=0.0).clusters[0].size
    assert size_now == pytest.approx(10.0)
    assert clu.snapshot(now=100.0).clusters[0].size == pytest.approx(5.0)
    assert clu.snapshot(now=100.0).clusters[0].failures_recent == pytest.approx(10.0 / 2**10)


def test_rebasing_keeps_decayed_values() -> None:
    rng = np.random.default_rng(6)
    clu = IncrementalClusterer(half_life=200.0, recent_half_life=1.0, seed=0)
    t = feed(clu, rng, 0, 5, 0.0, dt=10.0)  # 40 recent half-lives: forces a rebase
    t = feed(clu, rng, 0, 5, t, dt=10.0)
    size = clu.snapshot().clusters[0].size
    expected = sum(2 ** (-(90.0 - 10.0 * i) / 200.0) for i in range(10))
    assert size == pytest.approx(expected, rel=1e-6)


def test_housekeeping_prunes_faded_and_merges_near_duplicates() -> None:
    clu = IncrementalClusterer(threshold=0.99, merge_threshold=0.95, maintain_every=4, half_life=10.0,
                               recent_half_life=1.0, min_weight=1.0, prune_weight=0.2, seed=0)
    a = direction(0)
    b = direction(0) + 0.25 * direction(1)  # cosine 0.97 with a: a second micro-cluster, then a near-duplicate
    clu.learn_one(a, t=0.0).learn_one(b, t=0.0).learn_one(direction(2), t=0.0)
    assert clu.n_micro_clusters_ == 3
    clu.learn_one(direction(3), t=30.0)  # 4th update: housekeeping at t=30 (three half-lives later)
    assert clu.n_micro_clusters_ == 1  # a+b merged, then both faded below 0.2 with direction(2)


# ---------------------------------------------------------------------------------------------------- lifecycle


def test_lifecycle_born_growing_stable_fading() -> None:
    rng = np.random.default_rng(7)
    clu = IncrementalClusterer(half_life=4000.0, recent_half_life=200.0, seed=0)
    t = 0.0
    for _ in range(400):  # background traffic, as passes in other directions
        clu.learn_one(near(rng, 5), t=t, failed=False)
        clu.learn_one(near(rng, 3), t=t)
        t += 5.0
    clu.snapshot()
    states = []
    for _ in range(40):  # a new failure region appears
        clu.learn_one(near(rng, 0), t=t)
        clu.learn_one(near(rng, 3), t=t)
        t += 5.0
        snap, cid = clu.snapshot(), clu.assign_one(direction(0))
        if cid is not None:  # a cluster once it weighs min_weight
            states.append(snap.by_id()[cid].state)
    assert states[0] == "born" and states[-1] == "growing"
    cid = clu.assign_one(direction(0))
    for _ in range(2000):  # the same rate for many half-lives: steady
        clu.learn_one(near(rng, 0), t=t)
        clu.learn_one(near(rng, 3), t=t)
        t += 5.0
    assert clu.snapshot().by_id()[cid].state == "stable"
    for _ in range(400):  # it stops failing while traffic goes on
        clu.learn_one(near(rng, 3), t=t)
        t += 5.0
    assert clu.snapshot().by_id()[cid].state == "fading"


def at(degrees: float) -> np.ndarray:
    r = np.deg2rad(degrees)
    return np.cos(r) * direction(0) + np.sin(r) * direction(1)


def test_a_cluster_drifting_into_another_is_merged_into_the_heavier_id() -> None:
    rng = np.random.default_rng(8)
    clu = IncrementalClusterer(threshold=0.9, half_life=10.0, recent_half_life=2.0, prune_weight=0.01, seed=0)
    t = 0.0

    def step(b_degrees: float) -> None:
        nonlocal t
        for x in (at(0), at(0), at(b_degrees)):  # A gets twice B's failures
            clu.learn_one(x + 0.01 * rng.standard_normal(D), t=t)
        for i in range(2, D):  # passing traffic elsewhere sets the geometry the clusters are judged in
            clu.learn_one(near(rng, i), t=t, failed=False)
        t += 1.0

    for _ in range(30):
        step(70.0)
    snap = clu.snapshot()
    heavy, light = clu.assign_one(at(0)), clu.assign_one(at(70))
    assert len(snap.clusters) == 2 and heavy != light and not snap.merged
    for degrees in np.linspace(70, 30, 41):  # B's failures move towards A, and B's centroid follows
        step(degrees)
        snap = clu.snapshot()
    assert snap.merged == {light: heavy}
    assert [c.id for c in snap.clusters] == [heavy]
    assert clu.n_micro_clusters_ == 2  # grouped, not fused: B's micro-cluster is still there


# ---------------------------------------------------------------------------------------------------- reporting


def test_snapshot_reports_confusions_exemplars_and_a_name() -> None:
    rng = np.random.default_rng(9)
    clu = IncrementalClusterer(seed=0)
    for i in range(12):
        clu.learn_one(near(rng, 0), t=float(i), request_id=f"r{i}", text=f"move money to savings {i}",
                      expected="transfer", predicted="balance" if i % 4 else "pay_bill")
    (c,) = clu.snapshot().clusters
    assert [(x.expected, x.predicted, x.count) for x in c.confusions] == [
        ("transfer", "balance", 9), ("transfer", "pay_bill", 3)
    ]
    assert 1 <= len(c.exemplars) <= 5 and all(e.request_id.startswith("r") for e in c.exemplars)
    assert set(c.keywords) <= {"move", "money", "savings"} and c.name.count(" / ") == len(c.keywords) - 1


# ---------------------------------------------------------------------------------------------------- persistence


def test_checkpoint_round_trip_continues_identically(tmp_path) -> None:
    rng = np.random.default_rng(10)
    X = np.stack([near(rng, i % 4, 0.2) for i in range(200)])
    a = IncrementalClusterer(max_micro_clusters=8, maintain_every=40, seed=1)
    for i, x in enumerate(X[:120]):
        a.learn_one(x, t=float(i), request_id=f"r{i}", text=f"text {i % 4}", expected="e", predicted="p")
    a.snapshot()
    a.save(tmp_path / "clusterer.npz")
    b = IncrementalClusterer.load(tmp_path / "clusterer.npz")
    for i, x in enumerate(X[120:], start=120):
        for clu in (a, b):
            clu.learn_one(x, t=float(i), request_id=f"r{i}", text=f"text {i % 4}", expected="e", predicted="p")
    sa, sb = a.snapshot(), b.snapshot()
    assert [(c.id, c.state, c.size, c.exemplars, c.confusions) for c in sa.clusters] == [
        (c.id, c.state, c.size, c.exemplars, c.confusions) for c in sb.clusters
    ]
    assert a.to_bytes() == b.to_bytes()
    with np.load(tmp_path / "clusterer.npz", allow_pickle=False) as archive:
        assert all(archive[name].dtype.kind in "biuf" for name in archive.files)


def test_state_of_another_class_is_refused() -> None:
    from pioneer.clustering.state import pack

    with pytest.raises(ValueError):
        IncrementalClusterer.from_bytes(pack({}, {"class": "Other", "version": 1}))
    with pytest.raises(ValueError):
        IncrementalClusterer.from_bytes(b"not a state")
