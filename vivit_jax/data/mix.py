"""Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) on device, as pure jax functions.

Each batch is mixed with itself reversed along the batch axis (timm's `Mixup` 'batch'
mode, the pairing used by the ViViT/TimeSformer recipes); one λ per batch. CutMix cuts the
same box out of every frame of a clip (a tube), and λ is corrected to the box's real area
after clipping to the frame, so the label weights equal the pixel fractions exactly.

Use in the train step (labels one-hot, or multi-hot for multi-label data):

  video, labels = mix.mixup_cutmix(rng, batch["video"], jax.nn.one_hot(batch["label"], K),
                                   mixup_alpha=cfg.dataset.mixup_alpha,
                                   cutmix_alpha=cfg.dataset.cutmix_alpha,
                                   switch_prob=cfg.dataset.mix_switch_prob)
  loss = softmax cross-entropy of the logits against `labels` (soft targets)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def mixup(video: jax.Array, labels: jax.Array, lam: jax.Array) -> tuple[jax.Array, jax.Array]:
    """λ·x + (1-λ)·x[::-1] for videos and labels."""
    lam_v = lam.astype(video.dtype)
    return (lam_v * video + (1 - lam_v) * video[::-1],
            lam * labels + (1 - lam) * labels[::-1])


def cutmix_box(rng: jax.Array, h: int, w: int, lam: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mask [H, W] bool of the pasted box, λ corrected to 1 - box area / (H·W))."""
    cut = jnp.sqrt(1.0 - lam)
    ch, cw = jnp.round(cut * h).astype(jnp.int32), jnp.round(cut * w).astype(jnp.int32)
    ry, rx = jax.random.split(rng)
    cy = jax.random.randint(ry, (), 0, h)
    cx = jax.random.randint(rx, (), 0, w)
    y0, y1 = jnp.clip(cy - ch // 2, 0, h), jnp.clip(cy + ch - ch // 2, 0, h)
    x0, x1 = jnp.clip(cx - cw // 2, 0, w), jnp.clip(cx + cw - cw // 2, 0, w)
    ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    box = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
    return box, 1.0 - box.sum() / (h * w)


def cutmix(rng: jax.Array, video: jax.Array, labels: jax.Array, lam: jax.Array):
    """Pastes the same box of the reversed batch into every frame; labels by area."""
    h, w = video.shape[-3], video.shape[-2]
    box, lam = cutmix_box(rng, h, w, lam)
    mixed = jnp.where(box[:, :, None], video[::-1], video)
    return mixed, lam * labels + (1 - lam) * labels[::-1]


def mixup_cutmix(
    rng: jax.Array,
    video: jax.Array,
    labels_onehot: jax.Array,
    *,
    mixup_alpha: float,
    cutmix_alpha: float,
    switch_prob: float = 0.5,
) -> tuple[jax.Array, jax.Array]:
    """Mixup or CutMix of a batch `video` [B, T, H, W, C] with soft `labels_onehot` [B, K].

    λ ~ Beta(α, α). With both alphas > 0, CutMix is chosen with probability `switch_prob`;
    with one of them 0 only the other runs; both 0 returns the inputs unchanged. jit-safe
    (alphas are Python floats: static).
    """
    labels = labels_onehot.astype(jnp.float32)
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return video, labels
    r_lam, r_switch, r_box = jax.random.split(rng, 3)
    if cutmix_alpha <= 0:
        return mixup(video, labels, jax.random.beta(r_lam, mixup_alpha, mixup_alpha))
    if mixup_alpha <= 0:
        return cutmix(r_box, video, labels, jax.random.beta(r_lam, cutmix_alpha, cutmix_alpha))
    r_m, r_c = jax.random.split(r_lam)
    use_cut = jax.random.uniform(r_switch) < switch_prob
    v_m, l_m = mixup(video, labels, jax.random.beta(r_m, mixup_alpha, mixup_alpha))
    v_c, l_c = cutmix(r_box, video, labels, jax.random.beta(r_c, cutmix_alpha, cutmix_alpha))
    return jnp.where(use_cut, v_c, v_m), jnp.where(use_cut, l_c, l_m)
