"""Speaker clustering of CAM++ window embeddings.

- Speaker count given: spectral clustering with that many clusters (adapted from 3D-Speaker's
  ``speakerlab/process/cluster.py``, Apache-2.0, as senko uses it).
- Count unknown: average-linkage agglomerative clustering on cosine distance with a fixed threshold, then
  clusters too small to be a participant fold into their nearest voice. The eigengap estimate senko uses
  over-split test mixes (each turn of one voice became its own cluster: within-voice cosine ≈ 0.77, between
  voices ≈ 0.35, so a distance threshold separates them cleanly).
- Long recordings cluster an even subsample of at most MAX_WINDOWS windows and assign every window to its
  nearest centroid: memory and time stay bounded (senko instead switches to UMAP+HDBSCAN whose numba JIT costs
  ~2 minutes on 2 cores).
"""

from __future__ import annotations

import numpy as np

MIN_WINDOWS = 4  # fewer windows than this (≈ 3 s of speech) is one speaker unless a count is given
MAX_WINDOWS = 2500  # largest affinity matrix: 2500² floats = 50 MB
SAME_VOICE_DISTANCE = 0.5  # average cosine distance below which two clusters are one voice
MIN_CLUSTER = 4
MERGE_COS = 0.875
P_VAL = 0.012
MIN_PNUM = 6


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def spectral_labels(x: np.ndarray, k: int | None, max_speakers: int) -> np.ndarray:
    """In float32, pruning by a per-row threshold and solving only the first eigenvectors: on the largest
    (MAX_WINDOWS²) affinity this peaks at ~100 MB of arrays instead of ~275 MB in float64 with full ``eigh``."""
    from scipy.linalg import eigh
    from sklearn.cluster import KMeans

    xn = _normalize(x).astype(np.float32)
    sim = xn @ xn.T
    n = sim.shape[0]
    n_zero = min(int((1 - P_VAL) * n), n - MIN_PNUM)
    if n_zero > 0:  # keep each row's strongest affinities only
        floor = np.partition(sim, n_zero, axis=1)[:, n_zero]
        sim[sim < floor[:, None]] = 0.0
    sim = 0.5 * (sim + sim.T)
    np.fill_diagonal(sim, 0.0)
    degree = np.abs(sim).sum(axis=1)
    lap = np.negative(sim, out=sim)  # L = D - A, in place
    lap[np.diag_indices(n)] = degree
    top = min(n, max(max_speakers, k or 0) + 1)
    vals, vecs = eigh(lap, subset_by_index=[0, top - 1], overwrite_a=True, check_finite=False)
    if k is None:
        gaps = np.diff(vals[: max_speakers + 1])
        k = int(np.argmax(gaps)) + 1
    k = max(1, min(k, n))
    return np.asarray(KMeans(n_clusters=k, random_state=0, n_init=10).fit_predict(vecs[:, :k]))


def _centroids(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.unique(labels)
    return ids, _normalize(np.stack([x[labels == i].mean(axis=0) for i in ids]))


def agglomerative_labels(x: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(x, method="average", metric="cosine")
    return np.asarray(fcluster(tree, t=SAME_VOICE_DISTANCE, criterion="distance")) - 1


def cluster(embeddings: np.ndarray, num_speakers: int | None = None, max_speakers: int = 15) -> np.ndarray:
    """Labels 0..k-1 for each embedding row (0 = the speaker with most windows)."""
    n = embeddings.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    if num_speakers == 1 or (num_speakers is None and n < MIN_WINDOWS):
        return np.zeros(n, dtype=int)
    x = _normalize(embeddings.astype(np.float64))
    sample = np.linspace(0, n - 1, min(n, MAX_WINDOWS)).astype(int)
    if num_speakers is not None:
        labels = spectral_labels(x[sample], num_speakers, max_speakers)
    else:
        labels = _merge_minor_and_similar(x[sample], agglomerative_labels(x[sample]), max_speakers)
    ids, cents = _centroids(x[sample], labels)
    full = ids[np.argmax(x @ cents.T, axis=1)] if len(sample) < n else labels
    uniq, counts = np.unique(full, return_counts=True)
    rank = {lab: r for r, lab in enumerate(uniq[np.argsort(-counts, kind="stable")])}
    return np.array([rank[v] for v in full], dtype=int)


def _merge_minor_and_similar(x: np.ndarray, labels: np.ndarray, max_speakers: int) -> np.ndarray:
    """Fold clusters too small to be a participant into their nearest big one; merge near-identical voices;
    keep at most ``max_speakers``."""
    labels = labels.copy()
    ids, counts = np.unique(labels, return_counts=True)
    floor = max(MIN_CLUSTER, int(0.02 * len(labels)))
    major = ids[counts >= floor]
    if len(major) > max_speakers:
        major = ids[np.argsort(-counts)[:max_speakers]]
    if 0 < len(major) < len(ids):
        major_ids, cents = _centroids(x[np.isin(labels, major)], labels[np.isin(labels, major)])
        minor = ~np.isin(labels, major)
        labels[minor] = major_ids[np.argmax(x[minor] @ cents.T, axis=1)]
    while True:
        ids, cents = _centroids(x, labels)
        if len(ids) < 2:
            return labels
        aff = np.triu(cents @ cents.T, 1)
        i, j = np.unravel_index(np.argmax(aff), aff.shape)
        if aff[i, j] < MERGE_COS:
            return labels
        labels[labels == ids[j]] = ids[i]
