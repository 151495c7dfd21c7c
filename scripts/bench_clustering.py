"""Clustering benchmark: planted failure patterns from CLINC150, against streaming and batch baselines.

Quality. Each draw plants intents (``--per-pattern`` training texts each) as failure patterns and mixes in noise
failures (single texts of intents not planted), shuffled into one stream of real all-MiniLM-L6-v2 embeddings.
Each method learns the stream once, then labels every point:

  ours          pioneer IncrementalClusterer, default parameters (self-calibrating), ``learn_one`` per event
  ours-batch    the same, ``learn_many`` in mini-batches of 32 (as the worker feeds it)
  leader        naive cosine leader clustering (fixed leaders), per event
  dbstream      River DBSTREAM, per event (``learn_one`` on dicts)
  denstream     River DenStream with two unreleased upstream fixes (river#2005, #2006), per event
  birch         scikit-learn Birch(n_clusters=None), ``partial_fit`` in mini-batches of 32
  mbkmeans      scikit-learn MiniBatchKMeans, ``partial_fit`` in mini-batches of 32, *told the true k*
  hdbscan       batch HDBSCAN over the whole window (not streaming; a ceiling for density methods)

Protocols (``--protocols``), so that no figure is measured where a constant was fitted. The ten CLINC150
domains (``domains.json``) are split by ``--split-seed`` into five calibration and five evaluation domains:

  cross-domain  ``--patterns`` intents drawn from the evaluation domains; calibration draws plant intents of the
                calibration domains
  within-domain every intent of one evaluation domain is a pattern (15 fine-grained intents close together,
                e.g. all of banking); calibration draws do the same with the calibration domains
  clinc         ``--patterns`` intents from all 150; calibration seeds 100+, evaluation seeds 0+

Each baseline's main parameter is chosen by a grid search on its protocol's calibration draws (10% noise); ours
takes no parameter: its thresholds are read off the stream it is learning. Scores: ARI and NMI over all points,
where every noise point and every point a method calls an outlier is its own singleton; pattern recovery, the
share of planted patterns matched by one predicted cluster holding >= 50% of the pattern with >= 50% purity.
"updates/s" times learning only (single thread); for HDBSCAN it is points per second of the batch fit.

Throughput. ``--updates`` (default 10^6) real embeddings (CLINC150 texts in random order, slightly jittered,
60% failures and 40% sampled passes, 20 events/s of event time) through ``learn_one`` on one thread; updates/s,
micro-clusters and memory are printed per tenth of the run to show they stay flat.

    OMP_NUM_THREADS=1 python scripts/bench_clustering.py            # full run (an hour or more on 2 busy cores)
    OMP_NUM_THREADS=1 python scripts/bench_clustering.py --quick    # ~25 min, mostly River's baselines
    OMP_NUM_THREADS=1 python scripts/bench_clustering.py --quick --methods ours,ours-batch   # ~2 min
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pioneer.clustering import IncrementalClusterer
from pioneer.embedding import Embedder
from pioneer.settings import Paths

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "clinc150"
MINI_BATCH = 32


# ---------------------------------------------------------------------------------------------------- data


def load_clinc(data_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """CLINC150 splits as ``{split: [(text, intent), ...]}``."""
    with open(data_dir / "data_full.json", encoding="utf-8") as fh:
        raw = json.load(fh)
    return {split: [(str(t), str(i)) for t, i in rows] for split, rows in raw.items()}


def clinc_embeddings(data_dir: Path, model: str | None = None, cache_dir: Path | None = None) -> tuple[dict[str, int], np.ndarray]:
    """Unit embeddings of every distinct CLINC150 text, computed once and cached outside the repository."""
    data = load_clinc(data_dir)
    texts = sorted({t for rows in data.values() for t, _ in rows})
    embedder = Embedder(model=model)
    key = hashlib.sha256((data_dir / "data_full.json").read_bytes() + embedder.model_path.encode()).hexdigest()[:16]
    cache = (cache_dir or Paths.from_env().cache) / "embeddings" / f"clinc150-{key}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if list(z["texts"]) == texts:
                return {t: i for i, t in enumerate(texts)}, z["X"]
    print(f"embedding {len(texts)} CLINC150 texts once (cache: {cache}) ...", flush=True)
    X = embedder.encode(texts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, X=X, texts=np.array(texts))
    os.replace(tmp, cache)
    return {t: i for i, t in enumerate(texts)}, X


def rows_by_intent(data: dict[str, list[tuple[str, str]]], index: dict[str, int], splits: tuple[str, ...]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for split in splits:
        for text, intent in data[split]:
            out.setdefault(intent, []).append(index[text])
    return out


def planted_draw(
    by_intent: dict[str, list[int]],
    X: np.ndarray,
    *,
    seed: int,
    noise: float,
    patterns: int,
    per_pattern: int,
    pool: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A shuffled stream: ``patterns`` intents of ``pool`` x ``per_pattern`` texts, plus noise texts.

    ``pool`` (default: every intent) is where patterns are drawn from; noise comes from the pool's other intents,
    or from every other intent when the whole pool is planted. Truth labels are the pattern index; each noise
    point gets its own negative label (it belongs to no pattern).
    """
    rng = np.random.default_rng(seed)
    intents = sorted(pool if pool is not None else by_intent)
    chosen = rng.choice(len(intents), min(patterns, len(intents)), replace=False)
    planted = {intents[i] for i in chosen.tolist()}
    others = [i for i in intents if i not in planted] or sorted(set(by_intent) - planted)
    rows, labels = [], []
    for j, i in enumerate(chosen):
        rows += rng.choice(by_intent[intents[i]], per_pattern, replace=False).tolist()
        labels += [j] * per_pattern
    n_noise = round(noise * len(rows) / (1.0 - noise))
    for q in range(n_noise):
        pool_rows = by_intent[others[rng.integers(len(others))]]
        rows.append(pool_rows[rng.integers(len(pool_rows))])
        labels.append(-1 - q)
    order = rng.permutation(len(rows))
    return X[np.asarray(rows)[order]], np.asarray(labels)[order]


def split_domains(domains: dict[str, list[str]], seed: int) -> tuple[list[str], list[str]]:
    """Calibration and evaluation halves of the CLINC150 domains (a seeded shuffle, printed with the results)."""
    names = sorted(domains)
    order = np.random.default_rng(seed).permutation(len(names))
    half = len(names) // 2
    return sorted(names[i] for i in order[:half]), sorted(names[i] for i in order[half:])


Draw = tuple[np.ndarray, np.ndarray]


def protocol_draws(
    name: str, args: argparse.Namespace, by_intent: dict[str, list[int]], X: np.ndarray,
    domains: dict[str, list[str]], noise: float,
) -> tuple[list[Draw], list[Draw], str]:
    """Calibration draws, evaluation draws and a one-line description for one protocol at one noise level.

    ``cross-domain``: patterns from the calibration domains calibrate; patterns from the other domains evaluate.
    ``within-domain``: every intent of one domain is a pattern (fine-grained, close together); calibration uses
    the calibration domains, evaluation the others. ``clinc``: patterns from all 150 intents, calibration seeds
    100+, evaluation seeds 0+. Calibration draws are always at 10% noise.
    """
    cal_doms, eval_doms = split_domains(domains, args.split_seed)
    pool_of = lambda doms: sorted(i for d in doms for i in domains[d])
    size = {"per_pattern": args.per_pattern}
    if name == "clinc":
        cal = [planted_draw(by_intent, X, seed=100 + s, noise=0.1, patterns=args.patterns, **size)
               for s in range(args.calibration_draws)]
        ev = [planted_draw(by_intent, X, seed=s, noise=noise, patterns=args.patterns, **size) for s in range(args.draws)]
        return cal, ev, f"{args.patterns} patterns from all 150 intents"
    if name == "cross-domain":
        cal = [planted_draw(by_intent, X, seed=100 + s, noise=0.1, patterns=args.patterns, pool=pool_of(cal_doms), **size)
               for s in range(args.calibration_draws)]
        ev = [planted_draw(by_intent, X, seed=s, noise=noise, patterns=args.patterns, pool=pool_of(eval_doms), **size)
              for s in range(args.draws)]
        return cal, ev, f"{args.patterns} patterns; calibrated on {cal_doms}, evaluated on {eval_doms}"
    if name == "within-domain":
        def one_domain(doms: list[str], s: int, nz: float) -> Draw:
            d = doms[s % len(doms)]
            return planted_draw(by_intent, X, seed=s, noise=nz, patterns=len(domains[d]), pool=domains[d], **size)

        cal = [one_domain(cal_doms, 100 + s, 0.1) for s in range(args.calibration_draws)]
        n_eval = max(args.draws, len(eval_doms)) if not args.quick else len(eval_doms)
        ev = [one_domain(eval_doms, s, noise) for s in range(n_eval)]
        return cal, ev, f"all intents of one domain; calibrated on {cal_doms}, evaluated on {eval_doms}"
    raise SystemExit(f"unknown protocol {name!r}; choose from {PROTOCOLS}")


PROTOCOLS = ("cross-domain", "within-domain", "clinc")


# ---------------------------------------------------------------------------------------------------- metrics


def singletons(pred: np.ndarray) -> np.ndarray:
    """Outliers (negative labels) become singleton clusters, so they count neither as together nor as apart."""
    pred = np.asarray(pred, dtype=np.int64).copy()
    out = pred < 0
    pred[out] = -1 - np.arange(out.sum())
    return pred


def recovery(truth: np.ndarray, pred: np.ndarray, share: float = 0.5) -> float:
    """Share of planted patterns matched by one predicted cluster (>= ``share`` of the pattern, >= ``share`` pure)."""
    patterns = sorted(set(truth[truth >= 0].tolist()))
    sizes = Counter(pred[pred >= 0].tolist())
    hit = 0
    for p in patterns:
        members = pred[truth == p]
        counts = Counter(members[members >= 0].tolist())
        if any(c >= share * len(members) and c >= share * sizes[k] for k, c in counts.items()):
            hit += 1
    return hit / len(patterns) if patterns else 0.0


def scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    p = singletons(pred)
    return {
        "ari": adjusted_rand_score(truth, p),
        "nmi": normalized_mutual_info_score(truth, p),
        "recovery": recovery(truth, np.asarray(pred)),
        "clusters": float(len(set(np.asarray(pred)[np.asarray(pred) >= 0].tolist()))),
    }


# ---------------------------------------------------------------------------------------------------- methods
# Each method: (X, k_true, param) -> (predicted labels, seconds spent learning, points learned).

Method = Callable[[np.ndarray, int, Any], tuple[np.ndarray, float, int]]


def run_ours(X: np.ndarray, k: int, param: Any) -> tuple[np.ndarray, float, int]:
    clu = IncrementalClusterer(seed=0, **(param or {}))
    t0 = time.perf_counter()
    for i, x in enumerate(X):
        clu.learn_one(x, t=float(i))
    dt = time.perf_counter() - t0
    return clu.predict_many(X), dt, len(X)


def run_ours_batched(X: np.ndarray, k: int, param: Any) -> tuple[np.ndarray, float, int]:
    clu = IncrementalClusterer(seed=0, **(param or {}))
    ts = np.arange(len(X), dtype=float)
    t0 = time.perf_counter()
    for start in range(0, len(X), MINI_BATCH):
        clu.learn_many(X[start : start + MINI_BATCH], t=ts[start : start + MINI_BATCH])
    dt = time.perf_counter() - t0
    return clu.predict_many(X), dt, len(X)


def run_leader(X: np.ndarray, k: int, threshold: float) -> tuple[np.ndarray, float, int]:
    """Naive cosine leader clustering: the first point of a cluster stays its centroid forever."""
    cap = len(X)
    leaders = np.zeros((cap, X.shape[1]), dtype=np.float32)
    n = 0
    t0 = time.perf_counter()
    for x in X:
        if n:
            sims = leaders[:n] @ x
            j = int(sims.argmax())
            if sims[j] >= threshold:
                continue
        leaders[n] = x
        n += 1
    dt = time.perf_counter() - t0
    sims = X @ leaders[:n].T
    j = sims.argmax(axis=1)
    pred = np.where(sims[np.arange(len(X)), j] >= threshold, j, -1)
    return pred, dt, len(X)


def _as_dicts(X: np.ndarray) -> list[dict[int, float]]:
    return [dict(enumerate(row.tolist())) for row in X]


def run_dbstream(X: np.ndarray, k: int, radius: float) -> tuple[np.ndarray, float, int]:
    from river import cluster

    model = cluster.DBSTREAM(clustering_threshold=radius, fading_factor=0.001, cleanup_interval=10,
                             intersection_factor=0.3, minimum_weight=1.0)
    xs = _as_dicts(X)
    t0 = time.perf_counter()
    for x in xs:
        model.learn_one(x)
    dt = time.perf_counter() - t0
    return np.array([model.predict_one(x) for x in xs]), dt, len(X)


def _fixed_denstream(**params: Any) -> Any:
    """River 0.26.1's DenStream with two upstream bug fixes that are merged but not yet released.

    river#2004/#2005: the micro-cluster radius used the norm of the squared-sum *vector*, which is ~0 for
    384-d unit vectors, so every point fit the first micro-cluster (one cluster at any epsilon). river#2006:
    the offline DBSCAN expanded clusters one hop only. Both are fixed by subclassing; the module's micro-cluster
    class is swapped for the fixed one only for the duration of each ``learn_one`` call (single-threaded).
    """
    from collections import deque

    from river import cluster
    from river.cluster import denstream

    class MicroCluster(denstream.DenStreamMicroCluster):
        __slots__ = ()

        def calc_radius(self, timestamp: float) -> float:
            n = self.N
            var = sum(ss / n - (ls / n) ** 2 for ls, ss in zip(self.linear_sum.values(), self.squared_sum.values()))
            return math.sqrt(var) if var > 0 else 0.0

        def radius_with(self, x: dict) -> float:
            n = self.N + 1
            var = 0.0
            for key in self.linear_sum.keys() | x.keys():
                v = x.get(key, 0.0)
                ls = self.linear_sum.get(key, 0.0) + v
                ss = self.squared_sum.get(key, 0.0) + v * v
                var += ss / n - (ls / n) ** 2
            return math.sqrt(var) if var > 0 else 0.0

    class DenStream(cluster.DenStream):
        def learn_one(self, x: dict, w: Any = None) -> None:
            original = denstream.DenStreamMicroCluster
            denstream.DenStreamMicroCluster = MicroCluster  # new micro-clusters get the right radius
            try:
                super().learn_one(x, w)
            finally:
                denstream.DenStreamMicroCluster = original

        def predict_one(self, x: dict, w: Any = None) -> int:
            if not self.initialized:
                return 0
            labels: dict[Any, int | None] = {pmc: None for pmc in self.p_micro_clusters.values()}
            c = -1
            for pmc in self.p_micro_clusters.values():
                if labels[pmc] is not None:
                    continue
                c += 1
                labels[pmc] = c
                queue = deque(self._query_neighbor(pmc))
                while queue:
                    q = queue.popleft()
                    if labels[q] is None:
                        labels[q] = c
                        queue.extend(n for n in self._query_neighbor(q) if labels[n] is None)
            self.n_clusters, self.clusters = self._generate_clusters_for_labels(labels)
            return self._get_closest_cluster_key(x, self.clusters)

    return DenStream(**params)


def run_denstream(X: np.ndarray, k: int, epsilon: float) -> tuple[np.ndarray, float, int]:
    model = _fixed_denstream(decaying_factor=0.001, beta=0.5, mu=3, epsilon=epsilon, n_samples_init=100, stream_speed=100)
    xs = _as_dicts(X)
    t0 = time.perf_counter()
    for x in xs:
        model.learn_one(x)
    dt = time.perf_counter() - t0
    return np.array([model.predict_one(x) for x in xs]), dt, len(X)


def run_birch(X: np.ndarray, k: int, threshold: float) -> tuple[np.ndarray, float, int]:
    from sklearn.cluster import Birch

    model = Birch(threshold=threshold, n_clusters=None)
    t0 = time.perf_counter()
    for start in range(0, len(X), MINI_BATCH):
        model.partial_fit(X[start : start + MINI_BATCH])
    dt = time.perf_counter() - t0
    return model.predict(X), dt, len(X)


def run_mbkmeans(X: np.ndarray, k: int, param: Any) -> tuple[np.ndarray, float, int]:
    from sklearn.cluster import MiniBatchKMeans

    model = MiniBatchKMeans(n_clusters=k, random_state=0, n_init=1)
    first = max(MINI_BATCH, k)
    t0 = time.perf_counter()
    model.partial_fit(X[:first])
    for start in range(first, len(X), MINI_BATCH):
        model.partial_fit(X[start : start + MINI_BATCH])
    dt = time.perf_counter() - t0
    return model.predict(X), dt, len(X)


def run_hdbscan(X: np.ndarray, k: int, param: tuple[int, int | None]) -> tuple[np.ndarray, float, int]:
    import hdbscan

    min_cluster_size, min_samples = param
    t0 = time.perf_counter()
    labels = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples).fit(X.astype(np.float64)).labels_
    return labels, time.perf_counter() - t0, len(X)


METHODS: dict[str, tuple[Method, list[Any], str]] = {
    "ours": (run_ours, [None], "defaults"),
    "ours-batch": (run_ours_batched, [None], "defaults; learn_many per 32"),
    "leader": (run_leader, [0.5, 0.55, 0.6, 0.65, 0.7], "cosine threshold"),
    "dbstream": (run_dbstream, [0.8, 0.9, 1.0, 1.1], "clustering_threshold (radius)"),
    "denstream": (run_denstream, [0.35, 0.4, 0.45, 0.5, 0.55], "epsilon (radius)"),
    "birch": (run_birch, [0.7, 0.75, 0.8, 0.85, 0.9], "threshold (radius)"),
    "mbkmeans": (run_mbkmeans, [None], "k = true number of patterns"),
    "hdbscan": (run_hdbscan, [(5, None), (5, 3), (8, 3), (12, 3)], "(min_cluster_size, min_samples)"),
}


# ---------------------------------------------------------------------------------------------------- runs


def calibrate(method: str, draws: list[tuple[np.ndarray, np.ndarray]]) -> tuple[Any, float]:
    fn, grid, _ = METHODS[method]
    best, best_ari = grid[0], -np.inf
    if len(grid) == 1:
        return best, float("nan")
    for param in grid:
        ari = float(np.mean([scores(y, fn(X, int(y.max() + 1), param)[0])["ari"] for X, y in draws]))
        if ari > best_ari:
            best, best_ari = param, ari
    return best, best_ari


def quality(args: argparse.Namespace, by_intent: dict[str, list[int]], X: np.ndarray,
            domains: dict[str, list[str]]) -> dict[str, Any]:
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods: {sorted(unknown)}; choose from {sorted(METHODS)}")
    protocols = [p for p in args.protocols.split(",") if p]
    noises = [float(v) for v in args.noise.split(",") if v]
    results: dict[str, Any] = {"rows": [], "chosen": {}}
    for proto in protocols:
        cal, _, what = protocol_draws(proto, args, by_intent, X, domains, noises[0])
        print(f"\n=== protocol {proto}: {what}")
        print(f"calibration on {len(cal)} draws, 10% noise: chosen parameter, mean ARI")
        chosen: dict[str, Any] = {}
        for m in methods:
            chosen[m], ari = calibrate(m, cal)
            print(f"  {m:<10} {METHODS[m][2]:<34} {chosen[m]!s:<12} {'' if np.isnan(ari) else f'{ari:.3f}'}", flush=True)
        results["chosen"][proto] = {m: repr(v) for m, v in chosen.items()}
        for noise in noises:
            _, draws, _ = protocol_draws(proto, args, by_intent, X, domains, noise)
            n_points = int(np.mean([len(y) for _, y in draws]))
            print(f"noise {noise:.0%}: ~{n_points} points per draw, {len(draws)} draws (mean +- sd)")
            print(f"  {'method':<10} {'ARI':>13} {'NMI':>13} {'recovery':>13} {'clusters':>9} {'updates/s':>10}")
            for m in methods:
                fn = METHODS[m][0]
                per = []
                for Xd, y in draws:
                    pred, dt, n = fn(Xd, int(y.max() + 1), chosen[m])
                    per.append({**scores(y, pred), "rate": n / dt if dt > 0 else float("inf")})
                row = {k: (float(np.mean([p[k] for p in per])), float(np.std([p[k] for p in per]))) for k in per[0]}
                results["rows"].append({"protocol": proto, "noise": noise, "method": m, **row})
                print(f"  {m:<10} {row['ari'][0]:>7.3f}+-{row['ari'][1]:.3f} {row['nmi'][0]:>7.3f}+-{row['nmi'][1]:.3f} "
                      f"{row['recovery'][0]:>7.2f}+-{row['recovery'][1]:.2f} {row['clusters'][0]:>9.1f} "
                      f"{row['rate'][0]:>10,.0f}", flush=True)
    print_summary(results["rows"], protocols, noises, methods)
    return results


def print_summary(rows: list[dict[str, Any]], protocols: list[str], noises: list[float], methods: list[str]) -> None:
    """ARI per protocol (columns) and method (rows), one table per noise level, best per column starred."""
    for noise in noises:
        cell = {(r["protocol"], r["method"]): r["ari"][0] for r in rows if r["noise"] == noise}
        best = {p: max(cell[(p, m)] for m in methods) for p in protocols}
        print(f"\nsummary: mean ARI at {noise:.0%} noise (* best)")
        print(f"  {'method':<10} " + " ".join(f"{p:>14}" for p in protocols))
        for m in methods:
            vals = " ".join(f"{cell[(p, m)]:>13.3f}{'*' if cell[(p, m)] == best[p] else ' '}" for p in protocols)
            print(f"  {m:<10} {vals}")


def rss_mib() -> float:
    """Resident memory of this process (Linux /proc; falls back to peak RSS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput(args: argparse.Namespace, X: np.ndarray) -> dict[str, Any]:
    """``learn_one`` over ``args.updates`` real embeddings; rate, micro-clusters and memory per segment."""
    rng = np.random.default_rng(args.seed)
    clu = IncrementalClusterer(seed=0)
    segments = 10
    seg = max(1, args.updates // segments)
    chunk = 20_000
    rows = []
    print(f"\nthroughput: learn_one over {seg * segments:,} updates, one thread "
          f"(cap {clu.max_micro_clusters} micro-clusters)")
    print(f"  {'updates':>10} {'updates/s':>10} {'micro':>6} {'clusters':>8} {'arrays MiB':>10} {'RSS MiB':>8}")
    done = 0
    for s in range(segments):
        spent = 0.0
        left = seg
        while left:
            m = min(chunk, left)
            V = X[rng.integers(0, len(X), m)] + rng.normal(0.0, 0.02, (m, X.shape[1])).astype(np.float32)
            V /= np.linalg.norm(V, axis=1, keepdims=True)
            failed = rng.random(m) < 0.6
            ts = (done + np.arange(m)) * 0.05
            t0 = time.perf_counter()
            for i in range(m):
                clu.learn_one(V[i], t=ts[i], failed=failed[i])
            spent += time.perf_counter() - t0
            done += m
            left -= m
        rate = seg / spent
        row = {"updates": done, "rate": rate, "micro": clu.n_micro_clusters_, "clusters": clu.n_clusters_,
               "arrays_mib": clu.nbytes_ / 2**20, "rss_mib": rss_mib()}
        rows.append(row)
        print(f"  {done:>10,} {rate:>10,.0f} {row['micro']:>6} {row['clusters']:>8} {row['arrays_mib']:>10.1f} "
              f"{row['rss_mib']:>8.0f}", flush=True)
    rates = [r["rate"] for r in rows]
    print(f"  first/last segment rate: {rates[0]:,.0f} / {rates[-1]:,.0f} updates/s; "
          f"min {min(rates):,.0f}; overall {done / sum(seg / r for r in rates):,.0f}")
    # The worker's path: learn_many over mini-batches of 256, same stream.
    rng = np.random.default_rng(args.seed)
    clu2 = IncrementalClusterer(seed=0)
    spent, done = 0.0, 0
    while done < seg * segments:
        m = min(chunk, seg * segments - done)
        V = X[rng.integers(0, len(X), m)] + rng.normal(0.0, 0.02, (m, X.shape[1])).astype(np.float32)
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        failed = rng.random(m) < 0.6
        ts = (done + np.arange(m)) * 0.05
        t0 = time.perf_counter()
        clu2.learn_many(V, t=ts, failed=failed)
        spent += time.perf_counter() - t0
        done += m
    many = done / spent
    print(f"  learn_many (mini-batches of 256) over the same {done:,} updates: {many:,.0f} updates/s, "
          f"{clu2.n_micro_clusters_} micro-clusters, arrays {clu2.nbytes_ / 2**20:.1f} MiB")
    return {"segments": rows, "learn_many_rate": many}


# ---------------------------------------------------------------------------------------------------- entry points


def make_parser(subparsers: Any = None) -> argparse.ArgumentParser:
    kwargs = {"description": __doc__, "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = subparsers.add_parser("bench-clustering", **kwargs) if subparsers else argparse.ArgumentParser(**kwargs)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CLINC150 folder (data_full.json)")
    parser.add_argument("--model", default=None, help="embedding model id or path (default: offline MiniLM)")
    parser.add_argument("--patterns", type=int, default=20, help="planted patterns (intents) per draw")
    parser.add_argument("--per-pattern", type=int, default=40, help="failures per planted pattern")
    parser.add_argument("--draws", type=int, default=5, help="evaluation draws per noise level (seeds 0..)")
    parser.add_argument("--calibration-draws", type=int, default=5, help="draws for baseline calibration (seeds 100..)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--updates", type=int, default=1_000_000, help="updates for the throughput run (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated subset of " + ",".join(PROTOCOLS))
    parser.add_argument("--noise", default="0.0,0.1,0.3", help="noise shares of the evaluation draws (comma-separated)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the calibration/evaluation domain split")
    parser.add_argument("--parts", default="quality,throughput", help="which parts to run (comma-separated)")
    parser.add_argument("--embeddings", type=Path, default=None,
                        help="a cached embeddings .npz (X, texts) to use as is; throughput only needs this")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="2 draws, 2 calibration draws, 10%% noise only, 200k updates")
    return parser


def main(args: argparse.Namespace) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    if args.quick:
        args.draws, args.calibration_draws, args.updates = 2, 2, min(args.updates, 200_000)
        args.noise = "0.1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parts = set(args.parts.split(","))
    if args.embeddings is not None:
        with np.load(args.embeddings, allow_pickle=False) as z:
            X, index = z["X"], {str(t): i for i, t in enumerate(z["texts"])}
    else:
        index, X = clinc_embeddings(args.data, args.model)
    out: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    with threadpool_limits(limits=1):
        if "quality" in parts:
            by_intent = rows_by_intent(load_clinc(args.data), index, ("train",))
            domains = json.loads((args.data / "domains.json").read_text(encoding="utf-8"))
            out["quality"] = quality(args, by_intent, X, domains)
        if "throughput" in parts and args.updates:
            out["throughput"] = throughput(args, X)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(make_parser().parse_args())
