"""VidTr and Compact VidTr (Li et al., ICCV 2021, arXiv:2104.11746).

Two readings, chosen by `model.reference`:

- 'paper' (default, this module): the paper text, with the official attention wiring. GELU
  MLP, LayerNorm eps 1e-6, separable position + time embeddings added to the tokens, one
  learned class token, C-VidTr keeping its class row/column and pooling with the std
  averaged over heads (whole tokens kept).
- 'gluonmm' (`vidtr_gluonmm.py`, the subclass `VidTrGluonmm` the registry builds): exactly
  what the released code and weights compute (ReLU, eps 1e-5, one position table added to
  the normed q/k/v of layer 0 (every layer for a 16-frame VidTr), separate temporal and
  spatial class tokens, C-VidTr without class row/column and joint attention after its last
  pool layer, per-head topK_std). Released checkpoints load into it
  (`convert/formats/gluonmm.py`).

Separable attention (Section 3.2) over a `(T+1) × (HW+1)` token grid: row 0 is the temporal
class-token row, column 0 holds one spatial class token per frame, the corner `[0, 0]` is
classified. Each block: temporal attention for every spatial position (over the T+1 rows),
then spatial attention for every temporal row (over the HW+1 columns), then the MLP.

Following the official code (gluonmm `MultiHeadSplitAttentionDualToken`): ONE q/k/v
projection of the normed grid; the temporal attention uses (q, k, v); the spatial attention
uses the *same* q, k with V = the temporal output; ONE output projection. Here the q/k/v/out
projections are the ViT-named `MultiHeadDotProductAttention_1/{query,key,value,out}` of a
`layers.EncoderBlock`, and both attentions run through `layers.dot_product_attention`.

Readout (`model.classifier`): the normed corner token, as the paper (default); 'gap' / 'gmp'
read the mean / max of the final normed patch tokens instead (ViViT's pooled readouts).

Compact VidTr (C-VidTr, Section 3.3): at `model.pool_layers` the temporal attention keeps
`T - model.pool_drop` of its query rows (the CLS row always kept), so the grid shrinks:

- `avg` / `conv`: temporal windows of the queries (and of the residual stream) averaged, or
  mixed by a learned 1D convolution (initialised to the average), with the window and stride
  chosen so that exactly `T - pool_drop` frames remain; `pool_drop = T/2` is the paper's
  kernel-2 stride-2 pooling. The residual stream is average-pooled in both cases.
- `topk_std` (Eq. 5): rows of the temporal attention matrix ranked by their standard
  deviation over the keys; the top `T - pool_drop` kept, in temporal order. The paper uses
  the kept rows as they are; the official code applies a second softmax to them
  (`model.topk_second_softmax=True`). Selection is per example and spatial position as in the
  paper; the official code also selects per head (gathering each head's channel slice of the
  residual), we average the std over heads so each token keeps its whole feature vector.

Official compact schedule for 8 frames: pool at layers 1, 3, 5 dropping 2 frames each
(8 → 6 → 4 → 2); for 16 frames layers 1, 2, 4 dropping 8, 4, 2 (`model.pool_drop` takes a
tuple per pool layer). The paper text describes 12 layers, 768 wide, MLP 3072, 8 heads (ViT-B
width; the heads only split the same projections, so ViT-B weights load either way).

Embeddings: the ViT's spatial position embedding `[1, HW+1, D]` plus a temporal one
`time_embed [1, T+1, D]`, both added to the grid (separable); one learned `cls` fills the
class-token row and column (the position embeddings tell them apart). The official code
instead learns one table over all tokens, added to the normed q/k/v of layer 0 only
(`reference='gluonmm'`).
"""
from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from vivit_jax.models import layers, tokenizers

POOL_TYPES = ("avg", "conv", "topk_std")


def default_config() -> ml_collections.ConfigDict:
    """Every field the VidTr family reads; a config's `model` section may set any."""
    return ml_collections.ConfigDict(dict(
        family="vidtr",
        variant="B/16",
        hidden_size=0, num_layers=0, mlp_dim=0, num_heads=0,  # 0 = the variant's value.
        # 'paper' (this module: the paper text's reading) or 'gluonmm' (the official code,
        # which the released checkpoints need: models/vidtr_gluonmm.py).
        reference="paper",
        pool_layers=(),  # C-VidTr: 0-based layers whose temporal attention down-samples.
        # Frames dropped at each pool layer: one int for all, or a tuple aligned with
        # pool_layers (official C-VidTr-M: pool_layers=(1, 2, 4), pool_drop=(8, 4, 2)).
        # None = 2.
        pool_drop=None,
        pool_type="topk_std",  # One of POOL_TYPES.
        topk_second_softmax=False,  # True: softmax the kept rows again (official code).
        time_embed_std=0.02,  # Init std of time_embed; larger makes frame order salient.
        # Readout: 'token' (the paper's corner token), or 'gap' / 'gmp' (mean / max of the
        # final normed patch tokens of the grid; ViViT's pooled readouts, not in the paper).
        classifier="token",
        dropout=0.0,
        drop_path=0.0,  # Max stochastic-depth rate; linear over depth.
        remat=False,  # Rematerialise each block in the backward pass.
        remat_policy="nothing",  # What a remat block keeps: layers.REMAT_POLICIES.
        scan=False,  # Blocks stacked and run with nnx.scan (VidTr; not C-VidTr's pool layers).
        # reference='gluonmm': layers whose normed input gets the position embedding: ''
        # (official rule: every layer for a 16-frame VidTr, else layer 0), 'first' or 'all'.
        posemb_layers="",
        attention_impl="",  # '' (CPU: cpu_kernels.attention, else XLA picks), 'xla' or 'cudnn'.
    ))


def pool_windows(num_frames: int, drop: int) -> tuple[int, int]:
    """(window, stride) of a VALID temporal pooling that leaves `num_frames - drop` frames."""
    n_out = num_frames - drop
    stride = num_frames // n_out
    return num_frames - (n_out - 1) * stride, stride


def top_indices(x: jax.Array, k: int) -> jax.Array:
    """Indices of the `k` largest entries of the last axis, largest first, ties to the lower
    index (as `lax.top_k`). A stable sort rather than `lax.top_k`, whose jax 0.10 lowering
    (a `chlo.top_k` composite) TensorFlow 2.21 cannot load: vivit-export's SavedModel."""
    return jnp.argsort(-x, axis=-1, stable=True)[..., :k]


def topk_std_rows(weights: jax.Array, keep: int) -> jax.Array:
    """Rows to keep of temporal attention `[..., H, T+1, T+1]` (row/col 0 = CLS): `[..., keep+1]`.

    The CLS row 0 first, then the `keep` frame rows whose attention has the largest standard
    deviation over the keys (averaged over heads), in temporal order (VidTr Eq. 5).
    """
    std = weights[..., 1:, :].astype(jnp.float32).std(axis=-1).mean(axis=-2)  # [..., T]
    top = top_indices(std, keep)
    top = jnp.sort(top, axis=-1) + 1
    return jnp.concatenate([jnp.zeros(top.shape[:-1] + (1,), top.dtype), top], axis=-1)


def _rows(x: jax.Array, idx: jax.Array, axis: int) -> jax.Array:
    """Gathers `idx [B, S, K]` along `axis` of `x`, whose first two dims are `[B, S]`."""
    shape = idx.shape[:2] + (1,) * (axis - 2) + idx.shape[2:] + (1,) * (x.ndim - axis - 1)
    return jnp.take_along_axis(x, idx.reshape(shape), axis=axis)


class VidTrBlock(layers.EncoderBlock):
    """`layers.EncoderBlock` with separable attention on a `[B, T+1, S+1, D]` grid.

    `pool` = (type, frames dropped) makes it a C-VidTr down-sampling layer.
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *, num_frames: int,
                 pool: tuple[str, int] | None = None, second_softmax: bool = False,
                 dropout: float = 0.0, drop_path: float = 0.0, dtype=jnp.float32,
                 attention_impl: str | None = None, rngs: nnx.Rngs):
        super().__init__(dim, num_heads, mlp_dim, dropout=dropout, drop_path=drop_path,
                         dtype=dtype, attention_impl=attention_impl, rngs=rngs)
        self.pool = pool
        self.second_softmax = second_softmax
        self.num_frames = num_frames
        if pool is not None and pool[0] in ("avg", "conv"):
            self.window = pool_windows(num_frames, pool[1])
        if pool is not None and pool[0] == "conv":
            k, stride = self.window
            # Initialised to the window average: the layer starts as avg pooling.
            avg = lambda key, shape, dtype=jnp.float32: jnp.broadcast_to(
                jnp.eye(dim, dtype=dtype) / k, shape)
            self.temporal_conv = layers.Conv(
                dim, dim, (k,), (stride,), padding="VALID", dtype=dtype,
                kernel_init=layers.with_axes(avg, (None, None, "embed")),
                bias_init=layers.with_axes(nnx.initializers.zeros, ("embed",)), rngs=rngs)

    def _avg_frames(self, x_bstd: jax.Array) -> jax.Array:
        """Average of each pooling window over the frame rows 1..T; CLS row 0 kept."""
        k, stride = self.window
        n_out = self.num_frames - self.pool[1]
        idx = np.arange(n_out)[:, None] * stride + np.arange(k)[None] + 1
        return jnp.concatenate([x_bstd[:, :, :1], x_bstd[:, :, idx].mean(axis=3)], axis=2)

    def _conv_frames(self, x_bstd: jax.Array) -> jax.Array:
        b, s, t1, d = x_bstd.shape
        y = self.temporal_conv(x_bstd[:, :, 1:].reshape(b * s, t1 - 1, d))
        return jnp.concatenate([x_bstd[:, :, :1], y.reshape(b, s, -1, d)], axis=2)

    def separable_attention(self, y: jax.Array, *, return_weights: bool = False):
        """Separable MSA of the normed grid `y [B, T+1, S+1, D]`.

        Returns `(out [B, τ+1, S+1, D], weights dict or None, kept rows [B, S+1, τ+1] or None)`.
        """
        attn = self.MultiHeadDotProductAttention_1
        y_bstd = y.swapaxes(1, 2)  # Spatial positions become batch-like: attend over time.
        kind = self.pool[0] if self.pool else None
        if kind in ("avg", "conv"):
            yq = self._avg_frames(y_bstd) if kind == "avg" else self._conv_frames(y_bstd)
            q, k, v = attn.qkv(yq, y_bstd)  # Pooled queries over all T+1 keys (Eq. 3).
            k_rows = attn.key(yq)
        else:
            q, k, v = attn.qkv(y_bstd)
            k_rows = k
        need = return_weights or kind == "topk_std"
        out_t, w_t = layers.dot_product_attention(q, k, v, return_weights=need,
                                                  implementation=attn.attention_impl)
        kept = None
        if kind == "topk_std":
            kept = topk_std_rows(w_t, self.num_frames - self.pool[1])
            w_t = _rows(w_t, kept, axis=3)  # [B, S+1, H, τ+1, T+1]
            if self.second_softmax:  # Official code: softmax over the kept probability rows.
                w_t = jax.nn.softmax(w_t.astype(jnp.float32), axis=-1).astype(v.dtype)
                out_t = jnp.einsum("...hqk,...khd->...qhd", w_t, v)
            else:  # Paper: the kept rows as they are, i.e. the kept rows of the output.
                out_t = _rows(out_t, kept, axis=2)
            q, k_rows = _rows(q, kept, axis=2), _rows(k, kept, axis=2)
        # Spatial attention per temporal row: the same q, k; V = the temporal output.
        sw = lambda a: a.swapaxes(1, 2)
        out_s, w_s = layers.dot_product_attention(sw(q), sw(k_rows), sw(out_t),
                                                  return_weights=return_weights,
                                                  implementation=attn.attention_impl)
        weights = dict(temporal=w_t, spatial=w_s, kept=kept) if return_weights else None
        return attn.out(layers.constrain(out_s, layers.HEADS)), weights, kept

    def __call__(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_weights: bool = False, drop_path_rate=None) -> tuple[jax.Array, Any]:
        """`x [B, T+1, S+1, D]` → `(x [B, τ+1, S+1, D], weights)`; `drop_path_rate` overrides
        the block's own rate (`layers.Encoder(scan=True)` passes it)."""
        rate = self.drop_path_rate if drop_path_rate is None else drop_path_rate
        x = layers.constrain(x)  # Block boundary: [batch, T+1, S+1, embed].
        y, weights, kept = self.separable_attention(self.LayerNorm_0(x),
                                                    return_weights=return_weights)
        if self.pool is not None:  # The residual stream follows the kept/pooled rows.
            x_bstd = x.swapaxes(1, 2)
            x_bstd = _rows(x_bstd, kept, axis=2) if kept is not None else self._avg_frames(x_bstd)
            x = x_bstd.swapaxes(1, 2)
        y = self.dropout(y, deterministic=not train, rngs=rngs)
        x = layers.constrain(x + layers.drop_path(y, rate, train=train, rngs=rngs))
        y = self.MlpBlock_3(self.LayerNorm_2(x), train=train, rngs=rngs)
        x = x + layers.drop_path(y, rate, train=train, rngs=rngs)
        return layers.constrain(x), weights


def pool_drops(pool_layers, drop) -> dict[int, int]:
    """`model.pool_drop` per pool layer: one int for every pool layer (None = 2), or a tuple
    aligned with `model.pool_layers`."""
    drop = 2 if drop is None else drop
    if isinstance(drop, (tuple, list)):
        if len(drop) != len(pool_layers):
            raise ValueError(f"model.pool_drop={tuple(drop)}: expected one value per layer of "
                             f"model.pool_layers={tuple(pool_layers)}")
        drops = dict(zip(pool_layers, drop))
    else:
        drops = {i: drop for i in pool_layers}
    if any(not isinstance(d, int) or d < 1 for d in drops.values()):
        raise ValueError(f"model.pool_drop={drop}: expected ints >= 1")
    return drops


def frame_schedule(num_frames: int, num_layers: int, pool_layers, drop) -> list[int]:
    """Frames entering each layer; refuses a schedule that pools away every frame."""
    drops = pool_drops(pool_layers, drop)
    frames, t = [], num_frames
    for i in range(num_layers):
        frames.append(t)
        if i in drops:
            if t - drops[i] < 1:
                raise ValueError(
                    f"model.pool_drop={drop} with model.pool_layers={tuple(pool_layers)}: layer "
                    f"{i} has {t} frame tokens, cannot drop {drops[i]} (input {num_frames} "
                    f"frames)")
            t -= drops[i]
    return frames


REFERENCES = ("paper", "gluonmm")


class VidTr(nnx.Module):
    """VidTr / C-VidTr: separable attention over the (T+1)×(HW+1) grid, corner token out.

    `model.reference='gluonmm'` is `vidtr_gluonmm.VidTrGluonmm` (a subclass), which the
    registry (`models.build_model`) builds instead.
    """

    def __init__(self, num_classes: int, *, cfg: ml_collections.ConfigDict,
                 input_shape: tuple[int, int, int], dtype=jnp.float32, rngs: nnx.Rngs):
        reference = tokenizers.choice("reference", cfg.get("reference", "paper"), REFERENCES)
        if reference != "paper":
            raise ValueError(f"model.reference={reference!r} is built by "
                             f"vivit_jax.models.build_model (vidtr_gluonmm.VidTrGluonmm), "
                             f"not by VidTr")
        s = tokenizers.resolve_sizes(cfg)
        self.tubelet = (s["tubelet_t"], *s["patch_size"])
        self.grid = tokenizers.token_grid(input_shape, self.tubelet)
        self.reference = "paper"
        self.classifier = tokenizers.choice("classifier", cfg.classifier, tokenizers.CLASSIFIERS)
        t, h, w = self.grid
        depth, d = s["num_layers"], s["hidden_size"]
        pool_layers = tuple(cfg.pool_layers)
        if cfg.pool_type not in POOL_TYPES:
            raise ValueError(f"model.pool_type={cfg.pool_type!r}: expected one of {POOL_TYPES}")
        bad = [i for i in pool_layers if not 0 <= i < depth]
        if bad or len(set(pool_layers)) != len(pool_layers):
            raise ValueError(f"model.pool_layers={pool_layers}: expected distinct layer indices "
                             f"in [0, {depth})")
        drops = pool_drops(pool_layers, cfg.pool_drop)
        frames = frame_schedule(t, depth, pool_layers, cfg.pool_drop)
        self.embedding = tokenizers.TubeletEmbedding(self.tubelet, d, dtype=dtype, rngs=rngs)
        self.cls = nnx.Param(layers.with_axes(nnx.initializers.zeros, (None, None, "embed"))(
            rngs.params(), (1, 1, d)))
        self.time_embed = nnx.Param(layers.with_axes(
            nnx.initializers.normal(cfg.time_embed_std), (None, None, "embed"))(
                rngs.params(), (1, t + 1, d)))
        # `Transformer/` as in ViT: encoderblock_{i} (stacked `encoderblock` with model.scan,
        # plain VidTr only: C-VidTr's layers differ), encoder_norm, plus posembed_input.
        self.Transformer = layers.Encoder(
            depth, d, s["num_heads"], s["mlp_dim"], dropout=cfg.dropout,
            drop_path=cfg.drop_path, dtype=dtype, attention_impl=cfg.attention_impl or None,
            remat=cfg.remat, remat_policy=cfg.remat_policy, scan=cfg.scan, rngs=rngs,
            block=partial(VidTrBlock, second_softmax=cfg.topk_second_softmax),
            layer_kwargs=[dict(num_frames=frames[i],
                               pool=(cfg.pool_type, drops[i]) if i in drops else None)
                          for i in range(depth)])
        self.Transformer.posembed_input = tokenizers.PositionEmbedding(1 + h * w, d, rngs=rngs)
        self.input_dropout = nnx.Dropout(cfg.dropout)
        self.head = nnx.Linear(
            d, num_classes, dtype=dtype, rngs=rngs,
            kernel_init=layers.with_axes(nnx.initializers.zeros, ("embed", "classes")),
            bias_init=layers.with_axes(nnx.initializers.zeros, ("classes",)))

    def blocks(self) -> list[VidTrBlock]:
        return self.Transformer.blocks()

    def embed(self, video: jax.Array) -> jax.Array:
        """`video [B, T, H, W, 3]` → patch tokens `[B, t, h, w, D]` on the built grid."""
        x = self.embedding(video)
        if x.shape[1:4] != self.grid:
            raise ValueError(f"VidTr was built for a token grid {self.grid}, got "
                             f"{x.shape[1:4]} from input {video.shape[1:4]} "
                             f"(dataset.num_frames/image_size)")
        return x

    def tokens(self, video: jax.Array) -> jax.Array:
        """`video [B, T, H, W, 3]` → embedded grid `[B, T+1, HW+1, D]` with class tokens."""
        x = self.embed(video)
        b, t, h, w, d = x.shape
        x = x.reshape(b, t, h * w, d)
        x = jnp.concatenate([jnp.broadcast_to(self.cls[...].astype(x.dtype), (b, t, 1, d)), x], 2)
        x = jnp.concatenate([jnp.broadcast_to(self.cls[...].astype(x.dtype)[:, None],
                                              (b, 1, h * w + 1, d)), x], 1)
        pos = self.Transformer.posembed_input.pos_embedding[...].astype(x.dtype)
        return x + pos[:, None] + self.time_embed[...].astype(x.dtype)[:, :, None]

    def __call__(self, video: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_attention: bool = False) -> tuple[jax.Array, dict[str, Any]]:
        """`video [B, T, H, W, 3]` → `(logits [B, classes], out)`.

        `out["attention"]`: per layer `{"temporal": [B, S+1, H, τ+1, T+1], "spatial":
        [B, τ+1, H, S+1, S+1], "kept": [B, S+1, τ+1] rows kept by topk_std or None}`.
        """
        x = self.input_dropout(self.tokens(video), deterministic=not train, rngs=rngs)
        x, weights = self.Transformer.run_blocks(x, train=train, rngs=rngs,
                                                 return_weights=return_attention)
        if self.classifier == "token":  # Only the corner token is read (and normed).
            pre_logits = self.Transformer.encoder_norm(x[:, 0, 0])
        else:
            pre_logits = tokenizers.readout(self.Transformer.encoder_norm(x[:, 1:, 1:]),
                                       self.classifier, axis=(1, 2))
        out = {"pre_logits": pre_logits, "grid": self.grid, "frames": x.shape[1] - 1}
        if return_attention:
            out["attention"] = weights
        return self.head(pre_logits), out


# The class the registry (`vivit_jax.models.build_model`) builds for this module.
MODEL = VidTr
