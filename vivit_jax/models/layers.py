"""Shared building blocks: the one attention core and the one transformer block.

Every model family (ViViT 1-4, TimeSformer, VidTr, STAT) is built from these; the
factorised variants are reshapes around `dot_product_attention` and `EncoderBlock`, not
copies. Parameter names follow google-research/vision_transformer checkpoints
(`LayerNorm_0`, `MultiHeadDotProductAttention_1/{query,key,value,out}`, `LayerNorm_2`,
`MlpBlock_3/Dense_{0,1}`, `encoderblock_{i}`, `encoder_norm`) so that loading a ViT is
nearly an identity map. The CPU-only forms of the projections and convolutions live in
`cpu_kernels.py`.

Every parameter carries logical axis names in its `logical_axes` metadata (`embed`, `mlp`,
`heads`, `kv`, `classes`); `vivit_jax.sharding` maps them to mesh axes from the config.
Activations are named at block boundaries with `constrain` (`activation_batch`, `…_tokens`,
`…_embed`, `…_heads`, `…_kv`, `…_mlp`; `config.activation_rules`): block input and output,
q/k/v and the attention output per head, the MLP hidden layer. It is a no-op unless the
train/eval step traces the model under `sharding.activation_sharding` (a model used alone is
untouched).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from vivit_jax import sharding
from vivit_jax.models import cpu_kernels

Dtype = Any
Initializer = Callable[..., jax.Array]

# Logical activation axes: dim 0 is the batch (frames folded into it stay with their clip),
# `...` every axis between it and the feature axes, each named `activation_tokens`
# (factorised models keep `[B, t, s, D]` or attend over a swapped `[B, s, t, D]` view).
TOKENS = ("activation_batch", ..., "activation_embed")
HEADS = ("activation_batch", ..., "activation_heads", "activation_kv")
HIDDEN = ("activation_batch", ..., "activation_mlp")


def constrain(x: jax.Array, axes: Sequence = TOKENS) -> jax.Array:
    """Activation sharding constraint by logical axes (`sharding.constrain`); a no-op outside
    the train/eval step's `sharding.activation_sharding`."""
    return sharding.constrain(x, axes)


def with_axes(init: Initializer, axes: Sequence[str | None]) -> Initializer:
    """Tags an initializer with logical axis names (read by vivit_jax.sharding)."""
    return nnx.with_metadata(init, logical_axes=tuple(axes))


def dot_product_attention(
        q: jax.Array,
        k: jax.Array,
        v: jax.Array,
        *,
        return_weights: bool = False,
        implementation: str | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """The attention core shared by every family.

    Args:
        q: queries `[..., Nq, H, D]`; leading dims are batch-like (factorised models fold
            space or time into them).
        k, v: keys/values `[..., Nk, H, D]`.
        return_weights: also return the softmax weights `[..., H, Nq, Nk]` (explicit path,
            for attention rollout). When False the fused `jax.nn.dot_product_attention` runs
            (cuDNN flash attention on GPU where `implementation='cudnn'`), or on CPU with
            `implementation=None` its form with a hand-written backward,
            `cpu_kernels.attention`.
        implementation: passed to `jax.nn.dot_product_attention` (None, 'xla', 'cudnn').

    Returns:
        `(out [..., Nq, H, D], weights or None)`.
    """
    lead = q.shape[:-3]
    if return_weights:
        scale = q.shape[-1] ** -0.5
        logits = jnp.einsum("...qhd,...khd->...hqk", q * scale, k)
        weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(q.dtype)
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v)
        return out, weights
    # jax.nn.dot_product_attention (and its CPU form) want exactly [B, N, H, D].
    fold = lambda x: x.reshape((-1,) + x.shape[-3:])
    if implementation is None and jax.default_backend() == "cpu":
        out = cpu_kernels.attention(fold(q), fold(k), fold(v))
    else:
        out = jax.nn.dot_product_attention(fold(q), fold(k), fold(v),
                                           implementation=implementation)
    return out.reshape(lead + out.shape[-3:]), None


class Attention(nnx.Module):
    """Multi-head dot-product attention with ViT parameter names and shapes.

    query/key/value kernels are `[embed, heads, kv]`, the output kernel `[heads, kv, embed]`,
    exactly as in ViT `.npz` checkpoints.
    """

    def __init__(self, dim: int, num_heads: int, *, dtype: Dtype = jnp.float32,
                 attention_impl: str | None = None, rngs: nnx.Rngs):
        if dim % num_heads:
            raise ValueError(f"hidden_size={dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.attention_impl = attention_impl
        head_dim = dim // num_heads
        # LinearGeneral initialises the flattened 2D kernel, then reshapes.
        kinit = nnx.initializers.xavier_uniform()
        qkv = lambda: cpu_kernels.HeadsLinear(
                dim, (num_heads, head_dim), axis=-1, dtype=dtype,
                kernel_init=with_axes(kinit, ("embed", "heads", "kv")),
                bias_init=with_axes(nnx.initializers.zeros, ("heads", "kv")), rngs=rngs)
        self.query = qkv()
        self.key = qkv()
        self.value = qkv()
        self.out = cpu_kernels.HeadsLinear(
                (num_heads, head_dim), dim, axis=(-2, -1), dtype=dtype,
                kernel_init=with_axes(kinit, ("heads", "kv", "embed")),
                bias_init=with_axes(nnx.initializers.zeros, ("embed",)), rngs=rngs)

    def qkv(self, x: jax.Array, kv: jax.Array | None = None):
        """Projects queries from `x` and keys/values from `kv` (default `x`): `[..., N, H, D]`."""
        kv = x if kv is None else kv
        return tuple(constrain(p(a), HEADS) for p, a in
                     ((self.query, x), (self.key, kv), (self.value, kv)))

    def __call__(self, x: jax.Array, kv: jax.Array | None = None, *,
                 return_weights: bool = False):
        """Attention of the tokens of `x [..., N, D]` over those of `kv [..., M, D]`.

        Leading dims are batch-like: a factorised model reshapes space or time into them.
        """
        q, k, v = self.qkv(x, kv)
        out, w = dot_product_attention(q, k, v, return_weights=return_weights,
                                       implementation=self.attention_impl)
        return self.out(constrain(out, HEADS)), w


class Conv(nnx.Module):
    """`nnx.Conv`'s parameters (`kernel [*k, C_in/groups, C_out]`, `bias`) computed by `conv`.

    `padding`: 'VALID' or explicit (low, high) pairs per spatial dim.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: Sequence[int],
                 strides: Sequence[int] | None = None, *, padding: str | Sequence = "VALID",
                 groups: int = 1, kernel_init: Initializer, bias_init: Initializer,
                 dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
        kernel_size = tuple(kernel_size)
        if in_features % groups or out_features % groups:
            raise ValueError(f"Conv: groups={groups} does not divide in={in_features} / "
                             f"out={out_features} features")
        self.strides = tuple(strides or (1,) * len(kernel_size))
        if padding == "VALID":
            padding = ((0, 0),) * len(kernel_size)
        self.padding = tuple(tuple(p) for p in padding)
        self.groups, self.dtype = groups, dtype
        self.kernel = nnx.Param(kernel_init(
            rngs.params(), kernel_size + (in_features // groups, out_features)))
        self.bias = nnx.Param(bias_init(rngs.params(), (out_features,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = cpu_kernels.conv(x.astype(self.dtype), self.kernel[...].astype(self.dtype),
                             self.strides, self.padding, self.groups)
        return y + self.bias[...].astype(self.dtype)


class MlpBlock(nnx.Module):
    """ViT MLP: Dense_0 → GELU → dropout → Dense_1 → dropout."""

    def __init__(self, dim: int, mlp_dim: int, *, dropout: float = 0.0,
                 dtype: Dtype = jnp.float32, rngs: nnx.Rngs,
                 approximate_gelu: bool = False):
        # approximate_gelu: tanh GELU, Flax's `nn.gelu` default that ViT/Scenic checkpoints use.
        self.approximate_gelu = approximate_gelu
        kinit = nnx.initializers.xavier_uniform()
        binit = nnx.initializers.normal(1e-6)
        self.Dense_0 = nnx.Linear(dim, mlp_dim, dtype=dtype, rngs=rngs,
                                  kernel_init=with_axes(kinit, ("embed", "mlp")),
                                  bias_init=with_axes(binit, ("mlp",)))
        self.Dense_1 = nnx.Linear(mlp_dim, dim, dtype=dtype, rngs=rngs,
                                  kernel_init=with_axes(kinit, ("mlp", "embed")),
                                  bias_init=with_axes(binit, ("embed",)))
        self.dropout = nnx.Dropout(dropout)

    def __call__(self, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None) -> jax.Array:
        x = constrain(nnx.gelu(self.Dense_0(x), approximate=self.approximate_gelu), HIDDEN)
        x = self.dropout(x, deterministic=not train, rngs=rngs)
        return self.dropout(self.Dense_1(x), deterministic=not train, rngs=rngs)


def layer_norm(dim: int, *, dtype: Dtype = jnp.float32, rngs: nnx.Rngs) -> nnx.LayerNorm:
    """LayerNorm with ViT's epsilon and logical axes on its parameters."""
    return nnx.LayerNorm(dim, epsilon=1e-6, dtype=dtype, rngs=rngs,
                         scale_init=with_axes(nnx.initializers.ones, ("embed",)),
                         bias_init=with_axes(nnx.initializers.zeros, ("embed",)))


def drop_path(x: jax.Array, rate, *, train: bool, rngs: nnx.Rngs | None) -> jax.Array:
    """Stochastic depth: drops the whole residual branch per example.

    `rate` is a float, or a traced scalar inside a scanned layer stack.
    """
    if not train or (isinstance(rate, (int, float)) and rate == 0.0):
        return x
    if rngs is None:
        raise ValueError("drop_path in training mode needs rngs (pass rngs=nnx.Rngs(dropout=key))")
    keep = 1.0 - rate
    mask = jax.random.bernoulli(rngs.dropout(), keep, (x.shape[0],) + (1,) * (x.ndim - 1))
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


class EncoderBlock(nnx.Module):
    """Pre-LN transformer block (ViT `Encoder1DBlock`), the one block of every family.

    `attend(attention_module, normed_x, return_weights) -> (y, weights)` lets a factorised
    model run the attention sub-layer on a reshaped view of the tokens (per frame, per
    spatial position, over pooled keys…); by default it is self-attention over axis -2.
    There is no dropout on the attention weights: the fused core has none (as big_vision),
    and Scenic's ViViT configs set their `attention_dropout_rate` to 0.
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *, dropout: float = 0.0,
                 drop_path: float = 0.0, dtype: Dtype = jnp.float32,
                 attention_impl: str | None = None, rngs: nnx.Rngs,
                 approximate_gelu: bool = False):
        self.LayerNorm_0 = layer_norm(dim, dtype=dtype, rngs=rngs)
        self.MultiHeadDotProductAttention_1 = Attention(
            dim, num_heads, dtype=dtype, attention_impl=attention_impl, rngs=rngs)
        self.LayerNorm_2 = layer_norm(dim, dtype=dtype, rngs=rngs)
        self.MlpBlock_3 = MlpBlock(dim, mlp_dim, dropout=dropout, dtype=dtype, rngs=rngs,
                                   approximate_gelu=approximate_gelu)
        self.dropout = nnx.Dropout(dropout)
        self.drop_path_rate = drop_path

    def __call__(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_weights: bool = False,
                 attend: Callable | None = None, drop_path_rate=None
                 ) -> tuple[jax.Array, jax.Array | None]:
        rate = self.drop_path_rate if drop_path_rate is None else drop_path_rate
        x = constrain(x)  # Block boundary: [batch, tokens..., embed].
        attn, normed = self.MultiHeadDotProductAttention_1, self.LayerNorm_0(x)
        if attend is None:
            y, w = attn(normed, return_weights=return_weights)
        else:
            y, w = attend(attn, normed, return_weights)
        y = self.dropout(y, deterministic=not train, rngs=rngs)
        x = constrain(x + drop_path(y, rate, train=train, rngs=rngs))
        y = self.MlpBlock_3(self.LayerNorm_2(x), train=train, rngs=rngs)
        x = x + drop_path(y, rate, train=train, rngs=rngs)
        return constrain(x), w


# `model.remat_policy`: what a rematerialised block keeps from its forward pass.
REMAT_POLICIES = {
    "nothing": jax.checkpoint_policies.nothing_saveable,  # Recompute everything (least memory).
    "dots": jax.checkpoint_policies.checkpoint_dots,  # Keep matmul outputs, recompute the rest.
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,  # Keep the
    # weight matmuls (q/k/v/out, MLP), recompute attention scores and elementwise ops.
}


def checkpoint_policy(name: str):
    """`model.remat_policy` name → a `jax.checkpoint` policy; clear error for unknown names."""
    if name not in REMAT_POLICIES:
        raise ValueError(f"model.remat_policy={name!r}: expected one of {sorted(REMAT_POLICIES)}")
    return REMAT_POLICIES[name]


def apply_block(block: nnx.Module, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None,
                return_weights: bool = False, remat: bool = False, policy: str = "nothing",
                **kwargs):
    """`block(x, ...) -> (x, weights)`, rematerialised in training when `remat` (every family's
    layer loop goes through here, so `model.remat` / `model.remat_policy` mean the same)."""
    if remat and train:
        fn = lambda b, x, r: b(x, train=True, rngs=r, **kwargs)
        return nnx.remat(fn, policy=checkpoint_policy(policy))(block, x, rngs)
    return block(x, train=train, rngs=rngs, return_weights=return_weights, **kwargs)


def stochastic_depth_rates(max_rate: float, depth: int) -> list[float]:
    """Linear stochastic-depth schedule over depth: 0 for the first block, max for the last."""
    if depth <= 1:
        return [max_rate] * depth
    return [max_rate * i / (depth - 1) for i in range(depth)]


class Encoder(nnx.Module):
    """Stack of `EncoderBlock`s named `encoderblock_{i}` plus `encoder_norm`.

    Position embeddings live in the model (they differ per family); this is only the stack.
    `scan=True` stores the blocks stacked on a leading layer axis under `encoderblock` and
    runs them with `nnx.scan` (one compiled block: much faster compiles for deep models);
    `stack_blocks` / `unstack_blocks` convert between the two parameter layouts.
    """

    def __init__(self, depth: int, dim: int, num_heads: int, mlp_dim: int, *,
                 dropout: float = 0.0, drop_path: float = 0.0, dtype: Dtype = jnp.float32,
                 attention_impl: str | None = None, remat: bool = False, scan: bool = False,
                 remat_policy: str = "nothing", rngs: nnx.Rngs,
                 block: Callable[..., EncoderBlock] = EncoderBlock,
                 layer_kwargs: Sequence[dict[str, Any]] | None = None):
        # `block`: an EncoderBlock subclass (or partial) for factorised models, same arguments;
        # `layer_kwargs[i]`: extra constructor arguments of layer i (e.g. C-VidTr's pooling).
        self.depth = depth
        self.remat = remat
        self.remat_policy = remat_policy
        checkpoint_policy(remat_policy)  # Refuse an unknown policy at build time.
        self.scan = scan
        self.drop_path_rates = tuple(stochastic_depth_rates(drop_path, depth))
        make = functools.partial(block, dim, num_heads, mlp_dim, dropout=dropout, dtype=dtype,
                                 attention_impl=attention_impl)
        layer_kwargs = list(layer_kwargs or [{}] * depth)
        if len(layer_kwargs) != depth:
            raise ValueError(f"layer_kwargs has {len(layer_kwargs)} entries for {depth} layers")
        if scan:
            if any(kw != layer_kwargs[0] for kw in layer_kwargs):
                raise ValueError("model.scan=True needs identical layers; these differ "
                                 f"({layer_kwargs}), e.g. C-VidTr's model.pool_layers")

            @nnx.split_rngs(splits=depth)
            @nnx.vmap(in_axes=(0,), out_axes=0)
            def make_stack(rngs):  # Rates are passed per layer.
                return make(drop_path=drop_path, rngs=rngs, **layer_kwargs[0])
            self.encoderblock = make_stack(rngs)
        else:
            for i, rate in enumerate(self.drop_path_rates):
                setattr(self, f"encoderblock_{i}",
                        make(drop_path=rate, rngs=rngs, **layer_kwargs[i]))
        self.encoder_norm = layer_norm(dim, dtype=dtype, rngs=rngs)

    def blocks(self) -> list[EncoderBlock]:
        if self.scan:
            raise ValueError("blocks() is not available with model.scan=True (stacked layers)")
        return [getattr(self, f"encoderblock_{i}") for i in range(self.depth)]

    def __call__(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                 return_weights: bool = False, **block_kwargs
                 ) -> tuple[jax.Array, list[jax.Array]]:
        """The stack then `encoder_norm`; `block_kwargs` (e.g. TimeSformer's `grid_tn`) go to
        every block."""
        x, weights = self.run_blocks(x, train=train, rngs=rngs,
                                     return_weights=return_weights, **block_kwargs)
        return self.encoder_norm(x), weights

    def run_blocks(self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
                   return_weights: bool = False, **block_kwargs
                   ) -> tuple[jax.Array, list[jax.Array]]:
        """The blocks only, no `encoder_norm` (for a model that reads out one token)."""
        if self.scan:
            return self._scan(x, train=train, rngs=rngs, return_weights=return_weights,
                              **block_kwargs)
        weights = []
        for block in self.blocks():
            x, w = apply_block(block, x, train=train, rngs=rngs, return_weights=return_weights,
                               remat=self.remat, policy=self.remat_policy, **block_kwargs)
            if w is not None:
                weights.append(w)
        return x, weights

    def _scan(self, x, *, train, rngs, return_weights, **block_kwargs):
        use_rng = train and rngs is not None
        base = rngs.dropout() if use_rng else jax.random.key(0)
        keys = jax.random.split(base, self.depth)
        rates = jnp.asarray(self.drop_path_rates, jnp.float32)

        def body(block, x, rate, key):
            r = nnx.Rngs(dropout=key) if use_rng else None
            return block(x, train=train, rngs=r, return_weights=return_weights,
                         drop_path_rate=rate, **block_kwargs)

        if self.remat and train:
            body = nnx.remat(body, policy=checkpoint_policy(self.remat_policy))
        x, w = nnx.scan(body, in_axes=(0, nnx.Carry, 0, 0), out_axes=(nnx.Carry, 0))(
            self.encoderblock, x, rates, keys)
        # Per-layer maps; a pytree (e.g. {'spatial', 'temporal'} of a factorised block) too.
        return x, ([] if w is None else
                   [jax.tree.map(lambda a, i=i: a[i], w) for i in range(self.depth)])


def stack_blocks(tree: dict, depth: int) -> dict:
    """Pure-dict params: `encoderblock_{i}` entries → one `encoderblock` stacked on axis 0."""
    out = {k: v for k, v in tree.items() if not k.startswith("encoderblock_")}
    out["encoderblock"] = jax.tree.map(lambda *xs: jnp.stack(xs),
                                       *[tree[f"encoderblock_{i}"] for i in range(depth)])
    return out


def unstack_blocks(tree: dict) -> dict:
    """Inverse of `stack_blocks`."""
    out = {k: v for k, v in tree.items() if k != "encoderblock"}
    depth = jax.tree.leaves(tree["encoderblock"])[0].shape[0]
    for i in range(depth):
        out[f"encoderblock_{i}"] = jax.tree.map(lambda x: x[i], tree["encoderblock"])
    return out
