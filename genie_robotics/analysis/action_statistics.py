"""How latent actions relate to true robot actions (the probe's statistics; README, "Evaluate, probe, generate").

The LAM learns discrete codes without labels, so nothing ties code 3 to "move left". These
statistics ask whether the codes (or the continuous latents before quantisation) carry the
information in the true actions anyway: mutual information between codes and clustered true
actions, a linear probe from latents to true actions on held-out data, and code usage (a
collapsed codebook uses one or two codes, which caps what the codes can say).

The estimators are scikit-learn's; what is ours is the protocol around them: standardised
features, episode-grouped splits, and R^2 over the action dimensions that vary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import normalized_mutual_info_score, r2_score
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit
from sklearn.preprocessing import StandardScaler


def _numpy(x, dtype=None) -> np.ndarray:
    """Accept numpy arrays, lists and (possibly CUDA / grad-tracking) torch tensors."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def kmeans(points_NF, k: int, seed: int = 0) -> np.ndarray:
    """Cluster labels [N] (int64, contiguous 0..K-1) of k-means on standardised features.

    Features are standardised first so that dimensions in different units (metres, radians,
    gripper) weigh alike. Deterministic for a given seed. With fewer distinct points than `k`,
    only that many clusters are made: k-means cannot place two centres on one point.
    """
    points_NF = _numpy(points_NF, np.float64)
    if points_NF.ndim == 1:
        points_NF = points_NF[:, None]
    if points_NF.shape[0] == 0 or k < 1:
        raise ValueError(f"kmeans needs points and k >= 1, got {points_NF.shape[0]} points, k={k}")
    points_NF = StandardScaler().fit_transform(points_NF)
    k = min(k, len(np.unique(points_NF, axis=0)))
    labels_N = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(points_NF)
    return np.unique(labels_N, return_inverse=True)[1].astype(np.int64)


def normalized_mutual_information(labels_a_N, labels_b_N) -> float:
    """NMI = 2 I(a; b) / (H(a) + H(b)) (arithmetic-mean normalisation), in [0, 1].

    1 when one labelling is a relabelling of the other (also when both are constant), about 0
    when they are independent (a small positive bias remains for few samples per cell), 0 for a
    constant labelling against a varied one. Label values are arbitrary.
    """
    a_N, b_N = _numpy(labels_a_N).ravel(), _numpy(labels_b_N).ravel()
    if a_N.shape != b_N.shape or a_N.size == 0:
        raise ValueError(f"need two equally long, non-empty labellings, got {a_N.shape} and {b_N.shape}")
    return float(normalized_mutual_info_score(a_N, b_N, average_method="arithmetic"))


def code_usage(codes_N, num_codes: int) -> list[float]:
    """Fraction of samples using each of the `num_codes` codes (sums to 1); shows collapse."""
    codes_N = _numpy(codes_N).ravel().astype(np.int64)
    if codes_N.size == 0 or codes_N.min() < 0 or codes_N.max() >= num_codes:
        raise ValueError(f"codes must be a non-empty array of integers in [0, {num_codes})")
    return (np.bincount(codes_N, minlength=num_codes) / codes_N.size).tolist()


@dataclass
class ProbeResult:
    """Held-out scores of a linear probe from latents to true actions.

    accuracy: classifying the action labels; chance: the same for always guessing the training
    majority label; r2: ridge regression to the continuous actions, 1 - SSE/SST averaged over
    action dimensions (0 = no better than the held-out mean, can be negative).
    """

    accuracy: float
    chance: float
    r2: float


def _split(n: int, groups_N, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train / test indices of a seeded shuffle split; whole groups (episodes) stay on one side,
    so that near-identical neighbouring frames cannot leak from train to test."""
    if groups_N is None:
        n_train = int(np.clip(round(train_fraction * n), 1, n - 1))
        return next(ShuffleSplit(1, train_size=n_train, test_size=n - n_train, random_state=seed).split(np.zeros(n)))
    groups_N = _numpy(groups_N).ravel()
    if groups_N.shape[0] != n:
        raise ValueError(f"groups has {groups_N.shape[0]} entries for {n} samples")
    num_groups = len(np.unique(groups_N))
    if num_groups < 2:
        raise ValueError("a grouped split needs at least 2 groups")
    n_train = int(np.clip(round(train_fraction * num_groups), 1, num_groups - 1))
    splitter = GroupShuffleSplit(1, train_size=n_train, test_size=num_groups - n_train, random_state=seed)
    return next(splitter.split(np.zeros(n), groups=groups_N))


def linear_probe(latents_ND, action_labels_N, actions_NA, groups_N=None, train_fraction: float = 0.7,
                 seed: int = 0) -> ProbeResult:
    """How linearly decodable the true actions are from continuous latent actions, held out.

    Two probes on the same seeded train/test split (by episode when `groups_N` is given):
    multinomial logistic regression to the integer `action_labels_N` (e.g. k-means clusters of
    the true actions) with accuracy against the majority-class rate, and ridge regression to the
    continuous `actions_NA` with R^2 over the action dimensions that vary in the test set (a
    constant dimension has no variance to explain). Latents are standardised with training
    statistics; both probes are lightly L2-regularised so that they stay stable when latents
    are collinear.
    """
    latents_ND = _numpy(latents_ND, np.float64)
    latents_ND = latents_ND.reshape(latents_ND.shape[0], -1)
    labels_N = _numpy(action_labels_N).ravel()
    actions_NA = _numpy(actions_NA, np.float64)
    actions_NA = actions_NA.reshape(actions_NA.shape[0], -1)
    n = latents_ND.shape[0]
    if n < 2 or labels_N.shape[0] != n or actions_NA.shape[0] != n:
        raise ValueError(f"need >= 2 samples and equal lengths, got {n}, {labels_N.shape[0]}, {actions_NA.shape[0]}")
    train, test = _split(n, groups_N, train_fraction, seed)
    scaler = StandardScaler().fit(latents_ND[train])
    x_train_ND, x_test_ND = scaler.transform(latents_ND[train]), scaler.transform(latents_ND[test])

    labels_train_N = labels_N[train]
    if len(np.unique(labels_train_N)) > 1:
        # C = 1 / (2 * 1e-4 * n): an L2 penalty of 1e-4 * |W|^2 on the mean cross-entropy.
        classifier = LogisticRegression(C=1 / (2e-4 * len(train)), max_iter=1000).fit(x_train_ND, labels_train_N)
        predicted_N = classifier.predict(x_test_ND)
    else:  # one class seen in training: the only possible guess
        predicted_N = np.full(len(test), labels_train_N[0])
    accuracy = float((predicted_N == labels_N[test]).mean())
    values, counts = np.unique(labels_train_N, return_counts=True)
    chance = float((labels_N[test] == values[counts.argmax()]).mean())

    pred_NA = Ridge(alpha=1e-3 * len(train)).fit(x_train_ND, actions_NA[train]).predict(x_test_ND)
    varies_A = actions_NA[test].var(0) > 1e-12
    r2 = float(r2_score(actions_NA[test][:, varies_A], pred_NA[:, varies_A])) if varies_A.any() else float("nan")
    return ProbeResult(accuracy=accuracy, chance=chance, r2=r2)


def per_code_means(codes_N: np.ndarray, actions_NA: np.ndarray, num_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """(means float32 [K, A], counts int64 [K]) of the actions paired with each code; unseen -> overall mean."""
    codes_N = np.asarray(codes_N, dtype=np.int64)
    actions_NA = np.asarray(actions_NA, dtype=np.float64)
    counts = np.bincount(codes_N, minlength=num_codes).astype(np.int64)
    sums = np.zeros((num_codes, actions_NA.shape[1]), dtype=np.float64)
    np.add.at(sums, codes_N, actions_NA)
    overall = actions_NA.mean(axis=0)
    seen = counts > 0
    means = np.where(seen[:, None], sums / np.maximum(counts, 1)[:, None], overall[None])
    return means.astype(np.float32), counts
