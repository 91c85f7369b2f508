"""Several label sets per clip (Epic-Kitchens' noun + verb): class splits over one head.

`dataset.label_sets = "noun:300,verb:97"` cuts the model's one `num_classes`-way head
(num_classes = the sum) into consecutive slices, one per set, in that order — Scenic's
`class_splits` / `split_names` (its released Epic-Kitchens checkpoint is one 397-way
`output_projection`, nouns 300 first then verbs 97), so its weights load unchanged.

- Records: `clip/label/index` holds one index per set, in set order, as indices into the
  joint head (noun n → n, verb v → 300 + v), so a DMVR multi-hot reader of 397 classes gets
  Scenic's two-hot target; `label_map.json` lists the joint head's classes
  (`noun:<name>` … then `verb:<name>` …). Per-set keys `clip/label/<set>/index` (the class
  id within the set) and `clip/label/<set>/text` are written beside them for other readers.
- The pipeline yields `label` int32 [L]: each set's own class id (`local_labels`).
- Loss: each set's own softmax cross-entropy on its slice (label smoothing within the set),
  averaged over the sets, as Scenic's multi-head model does.
- Metrics: per set top-1 / top-5 on its slice, and the joint one, `action`: a clip is right
  when the tuple of true classes is among the top-k of the joint scores
  P(noun) · P(verb) (each set's softmax over its slice). For top-1 this is "every set
  right"; for top-5 it is the EK-100 evaluation code's action score (the product of the
  verb and noun softmax probabilities, ranked over all pairs).
"""
from __future__ import annotations

from typing import Any

import numpy as np

ACTION = "action"


def parse(spec: str) -> tuple[tuple[str, int], ...]:
    """'noun:300,verb:97' → (('noun', 300), ('verb', 97)); '' → () (one ordinary label)."""
    out = []
    for part in [p.strip() for p in str(spec or "").split(",") if p.strip()]:
        name, _, size = part.partition(":")
        if not name.strip() or not size.strip().isdigit() or int(size) < 1:
            raise ValueError(f"label_sets {spec!r}: expected NAME:SIZE[,NAME:SIZE…] such as "
                             "'noun:300,verb:97'")
        out.append((name.strip(), int(size)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names) or ACTION in names:
        raise ValueError(f"label_sets {spec!r}: set names must be distinct and not {ACTION!r}")
    return tuple(out)


def of(cfg_data) -> tuple[tuple[str, int], ...]:
    """The label sets of a `config.dataset` section, checked against its `num_classes`."""
    sets = parse(cfg_data.get("label_sets", ""))
    if sets:
        total = sum(n for _, n in sets)
        if total != cfg_data.num_classes:
            raise ValueError(f"dataset.label_sets={cfg_data.label_sets!r} has {total} classes "
                             f"but dataset.num_classes={cfg_data.num_classes}")
        if cfg_data.get("multi_label", False):
            raise ValueError("dataset.label_sets and dataset.multi_label cannot be combined")
    return sets


def offsets(sets) -> list[int]:
    """Where each set's slice starts in the joint head."""
    return [int(x) for x in np.cumsum([0] + [n for _, n in sets])[:-1]]


def to_string(sets) -> str:
    return ",".join(f"{name}:{n}" for name, n in sets)


# --- In the input pipeline (TensorFlow) ---------------------------------------------------


def local_labels(label_index, sets):
    """tf: a record's joint-head indices [L] → each set's own class id, int32 [L]."""
    import tensorflow as tf

    tf.debugging.assert_equal(
        tf.size(label_index), len(sets),
        message=f"a record's clip/label/index must hold one label per set {to_string(sets)}")
    return tf.cast(label_index - tf.constant(offsets(sets), tf.int64), tf.int32)


# --- On device (JAX) -----------------------------------------------------------------------


def joint_targets(labels, sets):
    """[B, L] per-set class ids → the concatenated one-hots [B, K] (a two-hot for EK)."""
    import jax
    import jax.numpy as jnp

    return jnp.concatenate([jax.nn.one_hot(labels[:, i], n) for i, (_, n) in enumerate(sets)],
                           axis=-1)


def _slices(x, sets):
    return [x[..., o:o + n] for o, (_, n) in zip(offsets(sets), sets)]


def loss(logits, target, smoothing: float, sets):
    """Per-example mean over the sets of each set's softmax cross-entropy [B]."""
    import jax.numpy as jnp
    import optax

    losses = []
    for lg, t in zip(_slices(logits, sets), _slices(target, sets)):
        if smoothing:
            t = t * (1.0 - smoothing) + smoothing / t.shape[-1]
        losses.append(optax.softmax_cross_entropy(lg, t))
    return jnp.mean(jnp.stack(losses), axis=0)


def hits(logits, target, sets, k: int = 1) -> dict[str, Any]:
    """{set: [B] 1/0, …, 'action': [B]}: the true class (of the clean `target`, one-hot per
    slice) among the top-k of the set's slice; the action among the top-k of the joint scores."""
    import jax
    import jax.numpy as jnp

    out, joint, true = {}, None, None
    for (name, n), lg, t in zip(sets, _slices(logits, sets), _slices(target, sets)):
        top = jax.lax.top_k(lg, min(k, n))[1]
        out[name] = (jnp.take_along_axis(t, top, axis=-1) > 0).any(-1).astype(jnp.float32)
        logp, idx = jax.nn.log_softmax(lg.astype(jnp.float32)), jnp.argmax(t, axis=-1)
        if joint is None:
            joint, true = logp, idx
        else:  # Joint log-probabilities over the pairs so far, flattened row-major.
            joint = (joint[:, :, None] + logp[:, None, :]).reshape(logp.shape[0], -1)
            true = true * n + idx
    top = jax.lax.top_k(joint, min(k, joint.shape[-1]))[1]
    out[ACTION] = (top == true[:, None]).any(-1).astype(jnp.float32)
    return out


# --- On the host (numpy): vivit-eval ----------------------------------------------------------


def set_probabilities(scores: np.ndarray, sets, aggregate: str) -> list[np.ndarray]:
    """Each set's probabilities [N, K_i] from per-video scores: the softmax of its slice of
    mean logits ('logits'), or its slice of mean per-set probabilities ('probs')."""
    from vivit_jax.evaluate import metrics as metrics_lib

    parts = _slices(np.asarray(scores, np.float64), sets)
    if aggregate == "probs":
        return [p / p.sum(-1, keepdims=True) for p in parts]
    return [metrics_lib.softmax(p) for p in parts]


def aggregate_probs(view_logits: np.ndarray, sets) -> np.ndarray:
    """[N, V, K] → [N, K]: each set's softmax over its slice, averaged over the views."""
    from vivit_jax.evaluate import metrics as metrics_lib

    parts = _slices(np.asarray(view_logits, np.float64), sets)
    return np.concatenate([metrics_lib.softmax(p).mean(axis=1) for p in parts], axis=-1)


def _topk_hit(scores: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[-1])
    top = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
    return (top == true[:, None]).any(-1)


def metrics(scores: np.ndarray, labels: np.ndarray, sets, aggregate: str = "logits"
            ) -> dict[str, Any]:
    """{'top1','top5' (the action's), 'label_sets': {set/action: {'top1','top5'}}} of
    per-video `scores` [N, K] and per-set class ids `labels` [N, L]."""
    labels = np.asarray(labels).astype(np.int64).reshape(len(scores), len(sets))
    probs = set_probabilities(scores, sets, aggregate)
    out: dict[str, dict[str, float]] = {}
    joint, true = None, None
    for i, ((name, n), p) in enumerate(zip(sets, probs)):
        out[name] = {f"top{k}": float(_topk_hit(p, labels[:, i], k).mean()) if len(p) else 0.0
                     for k in (1, 5)}
        joint = p if joint is None else (joint[:, :, None] * p[:, None, :]).reshape(len(p), -1)
        true = labels[:, i] if true is None else true * n + labels[:, i]
    out[ACTION] = {f"top{k}": float(_topk_hit(joint, true, k).mean()) if len(joint) else 0.0
                   for k in (1, 5)}
    return {"top1": out[ACTION]["top1"], "top5": out[ACTION]["top5"], "label_sets": out}


def per_class_rows(scores: np.ndarray, labels: np.ndarray, names, sets) -> list[list]:
    """per_class.csv rows `set, class_index (within the set), class_name, num_videos,
    top1_accuracy` (accuracy empty for a class without videos)."""
    from vivit_jax.evaluate import metrics as metrics_lib

    labels = np.asarray(labels).astype(np.int64).reshape(len(scores), len(sets))
    rows = [["label_set", "class_index", "class_name", "num_videos", "top1_accuracy"]]
    for i, ((name, n), o, s) in enumerate(zip(sets, offsets(sets), _slices(scores, sets))):
        acc, counts = metrics_lib.per_class_accuracy(s, labels[:, i])
        for c in range(n):
            rows.append([name, c, names[o + c] if o + c < len(names) else str(c),
                         int(counts[c]), "" if np.isnan(acc[c]) else f"{acc[c]:.6f}"])
    return rows
