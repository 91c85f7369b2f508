"""STAT: Shrinking Temporal Attention Transformer (Li et al., AAAI 2022).

No public code exists; this follows the paper (Section "Shrinking Temporal Attention
Transformer") and fills what it leaves open with documented config fields:

* Token embedding block: three vanilla 3D convolutions, kernels 3×3×3, strides
  [2,2,2], [1,2,2], [1,2,2] (Table 5) → `n_t = T/2, n_h = H/8, n_w = W/8`, plus one
  spatial CLS token per frame, plus separate spatial and temporal position embeddings.
* Shrinking temporal attention (STA, Eq. 1-8): the queries of frame `i` (its CLS and
  its patch tokens) attend over
  current attention (CA) — frame `i`'s patch tokens pooled by a convolution `P_CA`,
  short-term attention (SA) — the CA tokens of the `t_o - 1` other frames of a window of
  size `t_o` around `i` (frame `i` itself excluded), 2D-average-pooled once more (`P_SA`),
  long-term attention (LA) — the spatial CLS tokens of all `n_t` frames.
  So `|K̂| = ñ_h ñ_w + (t_o - 1) ñ_h ñ_w / sa_pool² + n_t` (Eq. 7). `t_o` counts *temporal
  tokens* (after the stride-2 temporal conv): 3, 5, 7 for T = 16, 32, 64 (Table 2).
* 15 STA blocks in 3 stages; between stages the width doubles "through MLP" and the
  resolution is pooled 4× (2× per side). MLP ratio 4.
* Temporal aggregation block: a video CLS token and the per-frame spatial CLS tokens,
  `l_ta = 1` self-attention layer (Table 4), then the classifier.

Choices the paper leaves open (its appendix with the layer table is not available):

* Stage sizes follow MViT-B (Fan et al. 2021), which the paper follows for data and
  evaluation: STAT's stages run at /8, /16, /32 like MViT-B's stages 2-4, whose widths are
  192, 384, 768 (the paper's n_c = 192) and depths 2, 11, 2 (= 15 blocks); heads 2, 4, 8.
  K/V pooling strides 4, 2, 1 (MViT's adaptive K/V stride: 7×7 key grid at every stage).
* `P_CA` is a depthwise 3×3 convolution applied to the block's normed input *before* the
  shared key/value projections (PVT-style spatial reduction), so one pooled token set
  serves K and V (θ_K = θ_V) and the attention stays `layers.Attention`'s. `P_SA` is a 2D
  average pool; being affine-preserving it commutes exactly with the projections.
* Stage transition: LayerNorm → Dense(d → 2d) (the paper's "MLP") on every token, then
  the patch tokens of each frame are pooled 2× per side (`downsample`: a depthwise 3×3
  stride-2 conv — the paper's conv pooling operator — or 'avg' / 'max'); CLS tokens pass.
* Stem: conv → LayerNorm → GELU between the convolutions (BatchNorm would be state the
  trainer does not carry); intermediate widths 64, 128; He-normal kernels (`stem_norm`
  'none' leaves only the GELUs, whose scale LeCun's init would shrink ~2× per conv).
* Window at the clip ends (`window_boundary`): 'shift' (default) slides the window inside
  the clip so every frame sees `t_o - 1` distinct other frames; 'reflect' mirrors a
  missing offset about the query frame (i - 1 < 0 → i + 1, so frame 0 sees frame 1 twice);
  'circular' wraps around. None can be masked padding: the core takes no mask.

Parameter names follow ViT where a counterpart exists: `encoderblock_{i}/{LayerNorm_0,
MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3}`, `encoder_norm`, `cls`, `head`.
"""
from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import linen, nnx

from vivit_jax.models import layers

# Paper sizes (n_c = 192, 15 blocks in 3 stages); split and heads from MViT-B, see above.
SIZES = {
    "B": dict(hidden_size=192, depths=(2, 11, 2), num_heads=2, stem_channels=(64, 128),
              kv_pool_strides=(4, 2, 1)),
}
# Table 2 / "Effect of Window Size": t_o = 3, 5, 7 for T = 16, 32, 64 input frames.
PAPER_WINDOW = {16: 3, 32: 5, 64: 7}
BOUNDARIES = ("shift", "reflect", "circular")
DOWNSAMPLES = ("conv", "avg", "max")
_VARIANT_RE = re.compile(r"^(?P<size>[A-Za-z]+)$")


def decode_variant(variant: str) -> dict[str, Any]:
    """`"B"` → the paper's STAT sizes (widths, depths per stage, heads, stem, K/V strides)."""
    m = _VARIANT_RE.match(variant)
    if not m or m["size"] not in SIZES:
        raise ValueError(f"model.variant={variant!r}: expected one of {sorted(SIZES)}")
    return dict(SIZES[m["size"]])


def default_config() -> ml_collections.ConfigDict:
    """Every field the STAT family reads; a config's `model` section may set any of them."""
    return ml_collections.ConfigDict(dict(
        family="stat",
        variant="B",
        # Overrides of the variant's sizes (0 / () = take the variant's value).
        hidden_size=0,  # Stage-1 width n_c; doubles at every stage transition.
        depths=(),  # STA blocks per stage.
        num_heads=0,  # Stage-1 heads; doubles with the width.
        stem_channels=(),  # Widths of the first two stem convs.
        kv_pool_strides=(),  # P_CA stride per stage.
        mlp_ratio=4,  # MLP hidden = mlp_ratio * width (paper: 4 n_c).
        stem_norm="layernorm",  # Between stem convs: 'layernorm' (+GELU) or 'none' (GELU only).
        kv_pool="conv",  # P_CA: 'conv' (depthwise, the paper's) or 'avg' (window = stride).
        kv_pool_kernel=3,  # P_CA depthwise conv kernel (square).
        sa_pool=2,  # P_SA 2D average-pool window = stride (1 = no second pooling).
        window=0,  # t_o in temporal tokens; 0 = paper's rule (3/5/7 for T=16/32/64).
        window_boundary="shift",  # 'shift', 'reflect' or 'circular' (see module doc).
        short_term=True,  # SA on/off (Table 1 ablation).
        long_term=True,  # LA on/off (Table 1 ablation).
        downsample="conv",  # Stage transition pooling: 'conv', 'avg' or 'max'.
        ta_layers=1,  # Temporal aggregation layers l_ta; 0 = average of the CLS (Table 4).
        dropout=0.0,
        drop_path=0.0,  # Max stochastic-depth rate; linear over the 15 blocks.
        remat=False,  # Rematerialise each block in the backward pass.
        remat_policy="nothing",  # What a remat block keeps: layers.REMAT_POLICIES.
        attention_impl="",  # '' (CPU: cpu_kernels.attention, else XLA picks), 'xla' or 'cudnn'.
    ))


def resolve_sizes(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
    """The variant's sizes with the config's explicit overrides applied, validated."""
    s = decode_variant(cfg.variant)
    for key in ("hidden_size", "depths", "num_heads", "stem_channels", "kv_pool_strides"):
        if cfg.get(key):
            s[key] = tuple(cfg[key]) if isinstance(cfg[key], (tuple, list)) else cfg[key]
    if s["hidden_size"] % s["num_heads"]:
        raise ValueError(f"model.hidden_size={s['hidden_size']} is not divisible by "
                         f"model.num_heads={s['num_heads']}")
    if not s["depths"] or min(s["depths"]) < 1:
        raise ValueError(f"model.depths={s['depths']}: need at least one block per stage")
    if len(s["kv_pool_strides"]) != len(s["depths"]):
        raise ValueError(f"model.kv_pool_strides={s['kv_pool_strides']} needs one stride per "
                         f"stage (model.depths={s['depths']})")
    if len(s["stem_channels"]) != 2:
        raise ValueError(f"model.stem_channels={s['stem_channels']}: expected two widths")
    for field, allowed in (("window_boundary", BOUNDARIES), ("downsample", DOWNSAMPLES),
                           ("kv_pool", ("conv", "avg")),
                           ("stem_norm", ("layernorm", "none"))):
        if cfg[field] not in allowed:
            raise ValueError(f"model.{field}={cfg[field]!r}: expected one of {allowed}")
    for field in ("sa_pool", "kv_pool_kernel", "mlp_ratio"):
        if cfg[field] < 1:
            raise ValueError(f"model.{field}={cfg[field]} must be >= 1")
    if cfg.ta_layers < 0:
        raise ValueError(f"model.ta_layers={cfg.ta_layers} must be >= 0")
    return s


def token_grid(input_shape: tuple[int, int, int], num_stages: int) -> tuple[int, int, int]:
    """(n_t, n_h, n_w) after the stem; refuses clips the stem and stage pooling can't divide."""
    t, h, w = input_shape
    if t % 2:
        raise ValueError(f"dataset.num_frames={t} is not divisible by 2 (the first stem conv "
                         f"has temporal stride 2)")
    div = 8 * 2 ** (num_stages - 1)  # Stem /8, then 2× per stage transition.
    for n in (h, w):
        if n % div:
            raise ValueError(f"dataset.image_size={n} is not divisible by {div} (stem /8, then "
                             f"/2 per side at each of the {num_stages - 1} stage transitions)")
    return t // 2, h // 8, w // 8


def resolve_window(cfg: ml_collections.ConfigDict, num_frames: int, n_t: int) -> int:
    """t_o in temporal tokens: the config's, or the paper's 3/5/7 for T = 16/32/64."""
    window = cfg.window
    if not window:
        if num_frames not in PAPER_WINDOW:
            raise ValueError(f"model.window=0 (paper's rule) only covers dataset.num_frames in "
                             f"{sorted(PAPER_WINDOW)}, got {num_frames}; set model.window")
        window = PAPER_WINDOW[num_frames]
    if window < 1 or window % 2 == 0:
        raise ValueError(f"model.window={window} must be odd and >= 1 (a window centred on "
                         f"the query frame)")
    if window > n_t:
        raise ValueError(f"model.window={window} is too large for n_t={n_t} temporal tokens "
                         f"(dataset.num_frames={num_frames} / 2)")
    return window


def window_indices(n_t: int, window: int, boundary: str = "shift") -> np.ndarray:
    """`[n_t, window - 1]` indices of the short-term frames of each query frame (itself excluded).

    The window is `{i - t_o//2, …, i + t_o//2} \\ {i}` (paper, "Short-Term Attention"); at the
    clip ends 'shift' moves it inside the clip, 'reflect' mirrors the missing offset about
    frame i (i - 1 < 0 → i + 1), 'circular' wraps.
    """
    if boundary not in BOUNDARIES:
        raise ValueError(f"model.window_boundary={boundary!r}: expected one of {BOUNDARIES}")
    if window > n_t:
        raise ValueError(f"model.window={window} is too large for n_t={n_t} temporal tokens")
    half = window // 2
    rows = []
    for i in range(n_t):
        if boundary == "shift":
            start = min(max(i - half, 0), n_t - window)
            idx = [j for j in range(start, start + window) if j != i]
        else:
            offs = [o for o in range(-half, half + 1) if o != 0]
            if boundary == "circular":
                idx = [(i + o) % n_t for o in offs]
            else:  # reflect about the query frame: i + o outside → i - o (never i itself).
                idx = [i + o if 0 <= i + o < n_t else i - o for o in offs]
        rows.append(idx)
    return np.asarray(rows, dtype=np.int32).reshape(n_t, window - 1)


def gather_kv(current: jax.Array, short: jax.Array | None, cls: jax.Array | None,
              idx: np.ndarray) -> jax.Array:
    """Per-frame key/value set of STA (Eq. 7), vectorised over frames.

    Args:
        current: `[B, n_t, N_ca, ...]` CA tokens of every frame (frame i uses its own).
        short: `[B, n_t, N_sa, ...]` SA tokens, or None without short-term attention.
        cls: `[B, n_t, ...]` spatial CLS tokens (LA, shared by every frame), or None.
        idx: `[n_t, t_o - 1]` from `window_indices`.
    Returns:
        `[B, n_t, N_ca + (t_o - 1) N_sa + n_t, ...]`: CA ⊕ SA window ⊕ LA for each frame.
    """
    b, t = current.shape[:2]
    parts = [current]
    if short is not None and idx.shape[1]:
        s = jnp.take(short, jnp.asarray(idx), axis=1)  # [B, n_t, t_o-1, N_sa, ...]
        parts.append(s.reshape((b, t, -1) + s.shape[4:]))
    if cls is not None:
        parts.append(jnp.broadcast_to(cls[:, None], (b, t) + cls.shape[1:]))
    return jnp.concatenate(parts, axis=2)


def _conv(cin, cout, kernel, strides, *, dtype, rngs, groups=1,
          init=nnx.initializers.lecun_normal()):
    pad = tuple((k // 2, k // 2) for k in kernel)
    return layers.Conv(cin, cout, kernel, strides, padding=pad, groups=groups, dtype=dtype,
                       rngs=rngs,
                       kernel_init=layers.with_axes(init,
                                                    (None,) * (len(kernel) + 1) + ("embed",)),
                       bias_init=layers.with_axes(nnx.initializers.zeros, ("embed",)))


class TokenEmbedding(nnx.Module):
    """Three 3×3×3 convs, strides [2,2,2], [1,2,2], [1,2,2] (Table 5): T/2 × H/8 × W/8 tokens."""

    def __init__(self, channels: tuple[int, int], dim: int, *, norm: bool, dtype,
                 rngs: nnx.Rngs):
        widths = (3, *channels, dim)
        strides = ((2, 2, 2), (1, 2, 2), (1, 2, 2))
        # He init (variance 2 / fan-in) keeps the token scale through the GELUs: LeCun's
        # (1 / fan-in) shrank the tokens to std 0.07 by the third conv of the tiny stem.
        for i in range(3):
            setattr(self, f"conv_{i}", _conv(widths[i], widths[i + 1], (3, 3, 3), strides[i],
                                             dtype=dtype, rngs=rngs,
                                             init=nnx.initializers.he_normal()))
        self.norm_0 = layers.layer_norm(channels[0], dtype=dtype, rngs=rngs) if norm else None
        self.norm_1 = layers.layer_norm(channels[1], dtype=dtype, rngs=rngs) if norm else None

    def __call__(self, x_bthwc: jax.Array) -> jax.Array:
        for i in range(3):
            x_bthwc = getattr(self, f"conv_{i}")(x_bthwc)
            if i < 2:
                norm = getattr(self, f"norm_{i}")
                x_bthwc = nnx.gelu(norm(x_bthwc) if norm is not None else x_bthwc,
                                   approximate=False)
        return x_bthwc


class STABlock(layers.EncoderBlock):
    """`layers.EncoderBlock` (Eq. 9-10) whose attention is STA through its `attend` hook."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *, grid_hw: tuple[int, int],
                 kv_stride: int, kv_kernel: int, kv_pool: str, sa_pool: int, idx: np.ndarray,
                 short_term: bool, long_term: bool, dropout: float, drop_path: float, dtype,
                 attention_impl: str | None, rngs: nnx.Rngs):
        super().__init__(dim, num_heads, mlp_dim, dropout=dropout, drop_path=drop_path,
                         dtype=dtype, attention_impl=attention_impl, rngs=rngs)
        self.grid_hw = grid_hw
        # P_CA (Eq. 2): depthwise conv; θ_K = θ_V because K and V come from its one output.
        self.kv_stride = kv_stride
        self.kv_pool = (_conv(dim, dim, (kv_kernel, kv_kernel), (kv_stride, kv_stride),
                              dtype=dtype, rngs=rngs, groups=dim) if kv_pool == "conv" else None)
        self.sa_pool = sa_pool
        self.idx = tuple(map(tuple, idx.tolist()))  # Static (hashable) module attribute.
        self.window_m1 = idx.shape[1]
        self.short_term = short_term and idx.shape[1] > 0
        self.long_term = long_term

    def pooled_tokens(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        """Normed tokens `[B, n_t, 1+hw, D]` → CA tokens and SA tokens (Eq. 2-3), per frame."""
        b, t, _, d = x.shape
        h, w = self.grid_hw
        ca = x[:, :, 1:].reshape(b * t, h, w, d)
        if self.kv_pool is not None:
            ca = self.kv_pool(ca)
        elif self.kv_stride > 1:  # 'avg' (cheap on CPU, where depthwise-conv gradients are slow).
            p = (self.kv_stride, self.kv_stride)
            ca = linen.avg_pool(ca, p, strides=p, padding="SAME", count_include_pad=False)
        sa = None
        if self.short_term:
            p = (self.sa_pool, self.sa_pool)
            sa = linen.avg_pool(ca, p, strides=p, padding="SAME", count_include_pad=False)
            sa = sa.reshape(b, t, -1, d)
        return ca.reshape(b, t, -1, d), sa

    def attend(self, attn: layers.Attention, x: jax.Array, return_weights: bool):
        """STA of every frame's queries over CA ⊕ SA ⊕ LA, all frames at once (Eq. 7-8)."""
        ca, sa = self.pooled_tokens(x)
        n_ca = ca.shape[2]
        n_sa = 0 if sa is None else sa.shape[2]
        # Project every pooled token once, then gather per frame (cheaper than projecting the
        # gathered, partly repeated set; identical result).
        src = jnp.concatenate([ca] + ([sa] if sa is not None else []) + [x[:, :, :1]], axis=2)
        q, k, v = attn.qkv(x, src)

        def gather(z):
            return gather_kv(z[:, :, :n_ca], z[:, :, n_ca:n_ca + n_sa] if n_sa else None,
                             z[:, :, -1] if self.long_term else None,
                             np.asarray(self.idx, np.int32).reshape(-1, self.window_m1))

        out, w = layers.dot_product_attention(q, gather(k), gather(v),
                                              return_weights=return_weights,
                                              implementation=attn.attention_impl)
        return attn.out(layers.constrain(out, layers.HEADS)), w

    def __call__(self, x, *, train=False, rngs=None, return_weights=False):
        return super().__call__(x, train=train, rngs=rngs, return_weights=return_weights,
                                attend=self.attend)


class StageTransition(nnx.Module):
    """Between stages: width ×2 "through MLP", resolution /4 by pooling (paper, STA Block)."""

    def __init__(self, dim: int, grid_hw: tuple[int, int], kind: str, *, dtype,
                 rngs: nnx.Rngs):
        self.grid_hw = grid_hw
        self.kind = kind
        self.norm = layers.layer_norm(dim, dtype=dtype, rngs=rngs)
        self.proj = nnx.Linear(dim, 2 * dim, dtype=dtype, rngs=rngs,
                               kernel_init=layers.with_axes(nnx.initializers.xavier_uniform(),
                                                            ("embed", "mlp")),
                               bias_init=layers.with_axes(nnx.initializers.zeros, ("mlp",)))
        self.pool = (_conv(2 * dim, 2 * dim, (3, 3), (2, 2), dtype=dtype, rngs=rngs,
                           groups=2 * dim) if kind == "conv" else None)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.proj(self.norm(x))
        b, t, _, d = x.shape
        h, w = self.grid_hw
        p = x[:, :, 1:].reshape(b * t, h, w, d)
        if self.kind == "conv":
            p = self.pool(p)
        elif self.kind == "avg":
            p = linen.avg_pool(p, (2, 2), strides=(2, 2))
        else:
            p = linen.max_pool(p, (2, 2), strides=(2, 2))
        return jnp.concatenate([x[:, :, :1], p.reshape(b, t, -1, d)], axis=2)


class STAT(nnx.Module):
    """STAT: conv token embedding → 3 stages of STA blocks → temporal aggregation → head."""

    def __init__(self, num_classes: int, *, cfg: ml_collections.ConfigDict,
                 input_shape: tuple[int, int, int], dtype=jnp.float32, rngs: nnx.Rngs):
        s = resolve_sizes(cfg)
        depths = s["depths"]
        n_t, n_h, n_w = self.grid = token_grid(input_shape, len(depths))
        self.window = resolve_window(cfg, input_shape[0], n_t)
        idx = window_indices(n_t, self.window, cfg.window_boundary)
        self.remat, self.remat_policy = cfg.remat, cfg.remat_policy
        layers.checkpoint_policy(cfg.remat_policy)  # Refuse an unknown policy at build time.
        d = s["hidden_size"]
        self.embedding = TokenEmbedding(s["stem_channels"], d, norm=cfg.stem_norm == "layernorm",
                                        dtype=dtype, rngs=rngs)
        init = layers.with_axes(nnx.initializers.normal(0.02), (None, None, None, "embed"))
        self.cls = nnx.Param(layers.with_axes(nnx.initializers.zeros,
                                              (None, None, None, "embed"))(
            rngs.params(), (1, 1, 1, d)))
        # Separate spatial (CLS slot + h·w) and temporal position embeddings (paper, Token
        # Embedding Block), summed by broadcasting.
        self.posembed_spatial = nnx.Param(init(rngs.params(), (1, 1, 1 + n_h * n_w, d)))
        self.posembed_temporal = nnx.Param(init(rngs.params(), (1, n_t, 1, d)))
        self.input_dropout = nnx.Dropout(cfg.dropout)
        rates = layers.stochastic_depth_rates(cfg.drop_path, sum(depths))
        heads, hw, i = s["num_heads"], (n_h, n_w), 0
        stage_of_block, token_counts = [], []
        for st, depth in enumerate(depths):
            if st:
                setattr(self, f"downsample_{st}",
                        StageTransition(d, hw, cfg.downsample, dtype=dtype, rngs=rngs))
                d, heads, hw = 2 * d, 2 * heads, (hw[0] // 2, hw[1] // 2)
            token_counts.append((n_t, 1 + hw[0] * hw[1], d))
            for _ in range(depth):
                setattr(self, f"encoderblock_{i}", STABlock(
                    d, heads, cfg.mlp_ratio * d, grid_hw=hw, kv_stride=s["kv_pool_strides"][st],
                    kv_kernel=cfg.kv_pool_kernel, kv_pool=cfg.kv_pool, sa_pool=cfg.sa_pool, idx=idx,
                    short_term=cfg.short_term, long_term=cfg.long_term, dropout=cfg.dropout,
                    drop_path=rates[i], dtype=dtype, attention_impl=cfg.attention_impl or None,
                    rngs=rngs))
                stage_of_block.append(st)
                i += 1
        self.num_blocks = i
        self.stage_of_block = tuple(stage_of_block)
        self.token_counts = tuple(token_counts)  # (n_t, 1 + h·w, width) per stage.
        self.encoder_norm = layers.layer_norm(d, dtype=dtype, rngs=rngs)
        self.ta_layers = cfg.ta_layers
        if cfg.ta_layers:
            self.video_cls = nnx.Param(layers.with_axes(nnx.initializers.zeros,
                                                        (None, None, "embed"))(
                rngs.params(), (1, 1, d)))
            self.TemporalAggregation = layers.Encoder(
                cfg.ta_layers, d, heads, cfg.mlp_ratio * d, dropout=cfg.dropout, dtype=dtype,
                attention_impl=cfg.attention_impl or None, remat=cfg.remat,
                remat_policy=cfg.remat_policy, rngs=rngs)
        self.head = nnx.Linear(
            d, num_classes, dtype=dtype, rngs=rngs,
            kernel_init=layers.with_axes(nnx.initializers.zeros, ("embed", "classes")),
            bias_init=layers.with_axes(nnx.initializers.zeros, ("classes",)))

    def blocks(self) -> list[STABlock]:
        return [getattr(self, f"encoderblock_{i}") for i in range(self.num_blocks)]

    def embed(self, video: jax.Array) -> jax.Array:
        """`video [B, T, H, W, 3]` → tokens `[B, n_t, 1 + n_h n_w, D]` with CLS and positions."""
        x = self.embedding(video)
        b, t, h, w, d = x.shape
        cls = jnp.broadcast_to(self.cls[...].astype(x.dtype), (b, t, 1, d))
        x = jnp.concatenate([cls, x.reshape(b, t, h * w, d)], axis=2)
        return (x + self.posembed_spatial[...].astype(x.dtype)
                + self.posembed_temporal[...].astype(x.dtype))

    def __call__(self, video: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_attention: bool = False) -> tuple[jax.Array, dict[str, Any]]:
        """`video [B, T, H, W, 3]` → `(logits [B, classes], out)`."""
        x = self.input_dropout(self.embed(video), deterministic=not train, rngs=rngs)
        weights, stage, shapes = [], 0, [x.shape]
        for block, st in zip(self.blocks(), self.stage_of_block):
            if st != stage:
                x, stage = getattr(self, f"downsample_{st}")(x), st
                shapes.append(x.shape)
            x, w = layers.apply_block(block, x, train=train, rngs=rngs,
                                      return_weights=return_attention, remat=self.remat,
                                      policy=self.remat_policy)
            if w is not None:
                weights.append(w)
        cls_btd = self.encoder_norm(x)[:, :, 0]
        if self.ta_layers:
            b, _, d = cls_btd.shape
            vcls = jnp.broadcast_to(self.video_cls[...].astype(cls_btd.dtype), (b, 1, d))
            y, ta_w = self.TemporalAggregation(jnp.concatenate([vcls, cls_btd], 1), train=train,
                                               rngs=rngs, return_weights=return_attention)
            pre_logits = y[:, 0]
            weights += ta_w
        else:  # Table 4, l_ta = 0: average of the spatial CLS tokens.
            pre_logits = cls_btd.mean(axis=1)
        out = {"pre_logits": pre_logits, "grid": self.grid, "stage_shapes": shapes}
        if return_attention:
            out["attention"] = weights
        return self.head(pre_logits), out


# The class the registry (`vivit_jax.models.build_model`) builds for this module.
MODEL = STAT
