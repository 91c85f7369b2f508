"""TimeSformer (Bertasius, Wang & Torresani, ICML 2021, arXiv:2102.05095).

A ViT over the frame patches of a clip (16×16 patches, 8 frames at 224² by default) with one
CLS token, a learned spatial position embedding shared by all frames (the ViT's) and a learned
time embedding (zero-initialised) added to the patch tokens. Three self-attention schemes
(Section 3, Figure 1), `model.attention_type`:

- `divided_space_time` (the paper's best, default): every block first attends over time
  (each spatial position over the T frames, patch tokens only, no CLS), through
  `temporal_norm` → `temporal_attn` → `temporal_fc` (zero-initialised, so a ViT-initialised
  block starts as the image model); then over space per frame (CLS ⊕ that frame's tokens),
  the T per-frame CLS outputs averaged back to one CLS; then the MLP.
- `joint_space_time`: one attention over CLS ⊕ all T·N tokens (ViViT model 1 with frame
  patches).
- `space_only` ("Space" in the paper, Table 1): the ViT applied to every frame
  independently (batch B·T, each frame its own CLS, the ViT's position embedding, no time
  embedding, no frame sees another), as the official `vit.py`; at the end the final tokens
  are averaged over frames, then `encoder_norm`, then the CLS is classified (official
  `forward_features`: mean over frames *before* the norm). It cannot see frame order.
  `out["frame_tokens"] [B, T, 1+N, D]` holds the per-frame final tokens before the average.
  Hugging Face's `attention_type="space_only"` differs: it also runs the frames
  independently but applies the norm and the classifier to every frame's CLS and returns
  per-frame logits `[B·T, K]` (no average over frames), so its released-checkpoint reader
  refuses that attention type (`convert/formats/hf_timesformer.py`).

With one frame, `divided` with a zero `temporal_fc` and `time_embed` equals `space_only` with
the same parameters; with more frames it does not, even then: its one CLS, averaged over the
frames in every block, carries each frame's content into the others.

GELU (`model.approximate_gelu`): False = the exact erf GELU of the official code and Hugging
Face's `hidden_act="gelu"` (default); True = the tanh approximation of ViT `.npz` checkpoints
(Flax `nn.gelu`) and HF's `gelu_new` / `gelu_pytorch_tanh` / `gelu_fast`.

Readout (`model.classifier`): the CLS token, as the paper (default); 'gap' / 'gmp' read the
mean / max of the final patch tokens instead (ViViT's pooled readouts, not in the paper);
for `space_only`, of the frame-averaged, normed tokens.

Parameter names: `embedding/conv` (kernel `[1, p, p, 3, D]`), `cls`, `time_embed [1, T, D]`,
`Transformer/posembed_input/pos_embedding [1, 1+N, D]`, `Transformer/encoderblock_{i}/`
{`LayerNorm_0`, `MultiHeadDotProductAttention_1`, `LayerNorm_2`, `MlpBlock_3`} (ViT names,
the spatial part) plus {`temporal_norm`, `temporal_attn/{query,key,value,out}`,
`temporal_fc`} (divided only), `Transformer/encoder_norm`, `head`.

Any number of frames and any resolution at run time: when the input grid differs from the
one given to the constructor, the spatial position embedding is resized bilinearly and the
time embedding linearly (the official code uses nearest for time; linear keeps it smooth).
"""
from __future__ import annotations

from functools import partial
from typing import Any

import einops
import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from vivit_jax.models import layers, tokenizers

ATTENTION_TYPES = ("divided_space_time", "joint_space_time", "space_only")


def default_config() -> ml_collections.ConfigDict:
    """Every field the TimeSformer family reads; a config's `model` section may set any."""
    return ml_collections.ConfigDict(dict(
        family="timesformer",
        variant="B/16",  # Section 4: ViT-B/16 (ImageNet-21K pre-trained in the paper).
        hidden_size=0, num_layers=0, mlp_dim=0, num_heads=0,  # 0 = the variant's value.
        attention_type="divided_space_time",  # One of ATTENTION_TYPES.
        # Readout: 'token' (the paper's CLS), or 'gap' / 'gmp' (mean / max of the final patch
        # tokens; not in the paper, Scenic's ViViT options; the CLS still attends).
        classifier="token",
        # Zero-init time_embed and temporal_fc (official; right when starting from a ViT).
        # From scratch it is a symmetric saddle (frames interchangeable until time_embed
        # moves): False draws both at random instead.
        zero_init_temporal=True,
        # Std of the random time_embed when zero_init_temporal=False. From scratch a larger
        # value makes frame order salient at step 0 (the patches' own scale is ~1).
        time_embed_std=0.02,
        # GELU: False = exact (erf), as the official code and HF's hidden_act='gelu';
        # True = tanh approximation, as ViT .npz checkpoints (Flax nn.gelu).
        approximate_gelu=False,
        dropout=0.0,
        drop_path=0.0,  # Max stochastic-depth rate; linear over depth.
        remat=False,  # Rematerialise each block in the backward pass.
        remat_policy="nothing",  # What a remat block keeps: layers.REMAT_POLICIES.
        scan=False,  # Blocks stacked and run with nnx.scan: one compiled block.
        attention_impl="",  # '' (CPU: cpu_kernels.attention, else XLA picks), 'xla' or 'cudnn'.
    ))


def resize_pos_embedding(pos: jax.Array, old_hw: tuple[int, int],
                         new_hw: tuple[int, int]) -> jax.Array:
    """`[1, 1+h*w, D]` → `[1, 1+h'*w', D]`: the patch grid resized bilinearly, CLS kept."""
    if tuple(old_hw) == tuple(new_hw):
        return pos
    d = pos.shape[-1]
    grid = pos[0, 1:].reshape(*old_hw, d)
    # Half-pixel bilinear without antialiasing, as torch's F.interpolate(align_corners=False).
    grid = jax.image.resize(grid, (*new_hw, d), "bilinear", antialias=False)
    return jnp.concatenate([pos[:, :1], grid.reshape(1, -1, d)], axis=1)


def resize_time_embedding(emb: jax.Array, num_frames: int) -> jax.Array:
    """`[1, T, D]` → `[1, T', D]` by linear interpolation over time."""
    if emb.shape[1] == num_frames:
        return emb
    return jax.image.resize(emb, (1, num_frames, emb.shape[-1]), "linear", antialias=False)


class TimeSformerBlock(layers.EncoderBlock):
    """`layers.EncoderBlock` whose attention sub-layer is joint, space-only or divided.

    Joint and divided: tokens travel as `[B, 1 + T*N, D]` (CLS first, then time-major
    patches); the divided spatial attention runs through the block's `attend` hook, its
    temporal part before it. Space-only: `[B*T, 1 + N, D]`, every frame its own sequence
    (a plain ViT block).
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *, attention_type: str,
                 zero_init_temporal: bool = True, dropout: float = 0.0, drop_path: float = 0.0,
                 dtype=jnp.float32, attention_impl: str | None = None, rngs: nnx.Rngs,
                 approximate_gelu: bool = False):
        super().__init__(dim, num_heads, mlp_dim, dropout=dropout, drop_path=drop_path,
                         dtype=dtype, attention_impl=attention_impl, rngs=rngs,
                         approximate_gelu=approximate_gelu)
        self.attention_type = attention_type
        if attention_type == "divided_space_time":
            self.temporal_norm = layers.layer_norm(dim, dtype=dtype, rngs=rngs)
            self.temporal_attn = layers.Attention(dim, num_heads, dtype=dtype,
                                                  attention_impl=attention_impl, rngs=rngs)
            # Zero-initialised (official code): the block starts as its spatial part.
            init = (nnx.initializers.zeros if zero_init_temporal
                    else nnx.initializers.xavier_uniform())
            self.temporal_fc = nnx.Linear(
                dim, dim, dtype=dtype, rngs=rngs,
                kernel_init=layers.with_axes(init, ("embed", "embed")),
                bias_init=layers.with_axes(nnx.initializers.zeros, ("embed",)))

    @staticmethod
    def _attend_per_frame(grid_tn: tuple[int, int], attn: layers.Attention, x: jax.Array,
                          return_weights: bool):
        """Spatial attention per frame over CLS ⊕ frame tokens; frame CLS outputs averaged."""
        b, _, d = x.shape
        t, n = grid_tn
        cls, x_btnd = x[:, :1], einops.rearrange(x[:, 1:], "b (t n) d -> b t n d", t=t)
        x_btnd = jnp.concatenate([jnp.broadcast_to(cls[:, None], (b, t, 1, d)), x_btnd], 2)
        y, w = attn(x_btnd, return_weights=return_weights)  # [B, T, 1+N, D], [B, T, H, ., .]
        frame_tokens = einops.rearrange(y[:, :, 1:], "b t n d -> b (t n) d")
        y = jnp.concatenate([y[:, :, 0].mean(1, keepdims=True), frame_tokens], axis=1)
        return y, w

    def __call__(self, x: jax.Array, *, grid_tn: tuple[int, int], train: bool = False,
                 rngs: nnx.Rngs | None = None, return_weights: bool = False,
                 drop_path_rate=None) -> tuple[jax.Array, Any]:
        """`x [B, 1 + T*N, D]` (space-only: `[B*T, 1 + N, D]`) with `grid_tn = (T, N)` →
        `(x, weights)`.

        `drop_path_rate` overrides the block's own rate (`layers.Encoder(scan=True)` passes it).
        """
        rate = self.drop_path_rate if drop_path_rate is None else drop_path_rate
        if self.attention_type == "joint_space_time":
            return super().__call__(x, train=train, rngs=rngs, return_weights=return_weights,
                                    drop_path_rate=rate)
        if self.attention_type == "space_only":  # Frames are batch entries: a ViT block.
            x, w = super().__call__(x, train=train, rngs=rngs, return_weights=return_weights,
                                    drop_path_rate=rate)
            # [B*T, H, 1+N, 1+N] → [B, T, H, 1+N, 1+N], the divided block's 'spatial' layout.
            return x, ({"spatial": w.reshape(-1, grid_tn[0], *w.shape[1:])}
                       if return_weights else None)
        weights = {}
        if self.attention_type == "divided_space_time":
            b, _, d = x.shape
            t, n = grid_tn
            # Temporal attention per spatial position over the T frames, patch tokens only.
            x_bntd = einops.rearrange(x[:, 1:], "b (t n) d -> b n t d", t=t)
            y, weights["temporal"] = self.temporal_attn(self.temporal_norm(x_bntd),
                                                        return_weights=return_weights)
            y = self.dropout(y, deterministic=not train, rngs=rngs)
            y = self.temporal_fc(layers.drop_path(y, rate, train=train, rngs=rngs))
            x = jnp.concatenate([x[:, :1], x[:, 1:] + einops.rearrange(y, "b n t d -> b (t n) d")],
                                1)
        x, weights["spatial"] = super().__call__(x, train=train, rngs=rngs,
                                                 return_weights=return_weights,
                                                 drop_path_rate=rate,
                                                 attend=partial(self._attend_per_frame, grid_tn))
        return x, (weights if return_weights else None)


class _Transformer(layers.Encoder):
    """`Transformer/`: `posembed_input`, `encoderblock_{i}` (or stacked `encoderblock` with
    `model.scan`), `encoder_norm` (ViT layout); the layer loop is `layers.Encoder`'s."""

    def __init__(self, num_tokens: int, s: dict[str, Any], *, attention_type: str,
                 zero_init_temporal: bool, dropout: float, drop_path: float, dtype,
                 attention_impl: str | None, remat: bool, remat_policy: str, scan: bool,
                 approximate_gelu: bool, rngs: nnx.Rngs):
        d = s["hidden_size"]
        self.attention_type = attention_type
        # Drawn before the blocks: this order of rng draws fixes what a seed initialises.
        self.posembed_input = tokenizers.PositionEmbedding(num_tokens, d, rngs=rngs)
        self.input_dropout = nnx.Dropout(dropout)
        super().__init__(s["num_layers"], d, s["num_heads"], s["mlp_dim"], dropout=dropout,
                         drop_path=drop_path, dtype=dtype, attention_impl=attention_impl,
                         remat=remat, remat_policy=remat_policy, scan=scan, rngs=rngs,
                         block=partial(TimeSformerBlock, attention_type=attention_type,
                                       zero_init_temporal=zero_init_temporal,
                                       approximate_gelu=approximate_gelu))

    def __call__(self, x, *, grid_tn, train=False, rngs=None, return_weights=False):
        """Blocks then `encoder_norm`: `(x, weights)`, or `(x, weights, frame_tokens)` for
        space-only, whose `[B*T, 1+N, D]` frame sequences are averaged over the T frames
        between the blocks and the norm (official `forward_features`)."""
        x = self.input_dropout(x, deterministic=not train, rngs=rngs)
        if self.attention_type != "space_only":
            return super().__call__(x, train=train, rngs=rngs, return_weights=return_weights,
                                    grid_tn=grid_tn)
        x, weights = self.run_blocks(x, train=train, rngs=rngs, return_weights=return_weights,
                                     grid_tn=grid_tn)
        frames = x.reshape(-1, grid_tn[0], *x.shape[1:])  # [B, T, 1+N, D]
        return self.encoder_norm(frames.mean(1)), weights, frames


class TimeSformer(nnx.Module):
    """TimeSformer with joint, divided or space-only attention (`model.attention_type`)."""

    def __init__(self, num_classes: int, *, cfg: ml_collections.ConfigDict,
                 input_shape: tuple[int, int, int], dtype=jnp.float32, rngs: nnx.Rngs):
        s = tokenizers.resolve_sizes(cfg)
        if cfg.attention_type not in ATTENTION_TYPES:
            raise ValueError(f"model.attention_type={cfg.attention_type!r}: expected one of "
                             f"{ATTENTION_TYPES}")
        self.attention_type = cfg.attention_type
        self.classifier = tokenizers.choice("classifier", cfg.classifier, tokenizers.CLASSIFIERS)
        self.tubelet = (s["tubelet_t"], *s["patch_size"])
        self.grid = tokenizers.token_grid(input_shape, self.tubelet)
        t, h, w = self.grid
        d = s["hidden_size"]
        self.embedding = tokenizers.TubeletEmbedding(self.tubelet, d, dtype=dtype, rngs=rngs)
        zeros = layers.with_axes(nnx.initializers.zeros, (None, None, "embed"))
        self.cls = nnx.Param(zeros(rngs.params(), (1, 1, d)))
        if self.attention_type != "space_only":
            # Zero-initialised (official code), so a ViT-initialised model starts as the ViT.
            init = zeros if cfg.zero_init_temporal else layers.with_axes(
                nnx.initializers.normal(cfg.time_embed_std), (None, None, "embed"))
            self.time_embed = nnx.Param(init(rngs.params(), (1, t, d)))
        self.Transformer = _Transformer(
            1 + h * w, s, attention_type=cfg.attention_type,
            zero_init_temporal=cfg.zero_init_temporal,
            dropout=cfg.dropout, drop_path=cfg.drop_path, dtype=dtype,
            attention_impl=cfg.attention_impl or None, remat=cfg.remat,
            remat_policy=cfg.remat_policy, scan=cfg.scan,
            approximate_gelu=cfg.approximate_gelu, rngs=rngs)
        self.head = nnx.Linear(
            d, num_classes, dtype=dtype, rngs=rngs,
            kernel_init=layers.with_axes(nnx.initializers.zeros, ("embed", "classes")),
            bias_init=layers.with_axes(nnx.initializers.zeros, ("classes",)))

    def __call__(self, video: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_attention: bool = False) -> tuple[jax.Array, dict[str, Any]]:
        """`video [B, T, H, W, 3]` (any T, H, W the patch sizes divide) → `(logits, out)`."""
        grid = tokenizers.token_grid(video.shape[1:4], self.tubelet)
        x = self.embedding(video)
        b, t, h, w, d = x.shape
        pos = resize_pos_embedding(self.Transformer.posembed_input.pos_embedding[...],
                                   self.grid[1:], (h, w)).astype(x.dtype)
        cls = self.cls[...].astype(x.dtype) + pos[:, :1]
        x = x.reshape(b, t, h * w, d) + pos[:, None, 1:]
        out = {"grid": grid}
        if self.attention_type == "space_only":  # Every frame a ViT input: own CLS, no time.
            x = jnp.concatenate([jnp.broadcast_to(cls[:, None], (b, t, 1, d)), x], 2)
            x, weights, out["frame_tokens"] = self.Transformer(
                x.reshape(b * t, 1 + h * w, d), grid_tn=(t, h * w), train=train, rngs=rngs,
                return_weights=return_attention)
        else:
            x = x + resize_time_embedding(self.time_embed[...], t).astype(x.dtype)[:, :, None]
            x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, d)), x.reshape(b, t * h * w, d)],
                                1)
            x, weights = self.Transformer(x, grid_tn=(t, h * w), train=train, rngs=rngs,
                                          return_weights=return_attention)
        out["pre_logits"] = x[:, 0] if self.classifier == "token" else tokenizers.readout(
            x[:, 1:], self.classifier)
        if return_attention:
            out["attention"] = weights
        return self.head(out["pre_logits"]), out


# The class the registry (`vivit_jax.models.build_model`) builds for this module.
MODEL = TimeSformer
