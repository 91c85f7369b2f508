"""CPU kernels: the same math as XLA's ops, in the forms XLA:CPU runs fastest.

Why this module exists: on a laptop or a CI machine (the 2-core CPUs this project is tested
and its default experiment is run on), two of XLA:CPU's lowerings cost far more than the
arithmetic they do, and both sit in every train step:

- Attention's (heads, kv) projections as `nnx.LinearGeneral`'s 3D-kernel `dot_general`: its
  data gradient copies a transposed kernel every step (about 9 % of a ViViT-B CPU step).
  `HeadsLinear` computes the same as one 2D matmul against the kernel's free reshape.
- Convolutions (forward and gradients) are 1.6× (ViViT's tubelets) to 4-50× (STAT's stem
  and depthwise pooling) slower than matmuls of the same work (`benchmarks/conv.py`).
  `conv` computes them as matmuls on CPU.
- `jax.nn.dot_product_attention`'s XLA form differentiated by autodiff: its softmax backward
  recomputes the forward's max/exp/sum in one fusion and runs ~3× slower than the
  arithmetic needs (half of the default experiment's CPU step is attention). `attention`
  is the same forward with the standard hand-written backward (FlashAttention's
  `dS = P ∘ (dP − rowsum(dO ∘ O))`).

When they are used: `HeadsLinear` everywhere (it falls back to `LinearGeneral`'s own form for
batch axes or an output sharding, i.e. wherever the 2D form does not apply); `conv` and
`attention` only when `jax.default_backend() == 'cpu'` — on GPUs and TPUs they are
`lax_conv`, XLA's own convolution (cuDNN / the TPU's convolution units), and
`jax.nn.dot_product_attention` (`model.attention_impl='xla'` or `'cudnn'` asks for that one
on CPU too). Same parameters, same values either way (tests/models/test_layers.py compares
values and gradients with XLA's forms).
"""
from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import einops
import jax
import jax.numpy as jnp
from flax import nnx


class HeadsLinear(nnx.LinearGeneral):
    """`nnx.LinearGeneral` over the trailing axes (no batch axes), applied as one 2D matmul.

    The same parameters, names and values as `LinearGeneral`'s `dot_general` over the
    (heads, kv) axes, but XLA:CPU lowers that 3D-kernel form's data gradient by copying a
    transposed kernel every step (4 per attention block, ~9 % of a ViViT-B train step on
    CPU); against the kernel's free 2D reshape it uses a transposed-operand matmul, as for
    the MLP.
    """

    def __call__(self, x: jax.Array, out_sharding=None) -> jax.Array:
        n_in = len(self.in_features)
        if (self.batch_axis or out_sharding is not None
                or tuple(a % x.ndim for a in self.axis) != tuple(range(x.ndim - n_in, x.ndim))):
            return super().__call__(x, out_sharding)
        kernel = self.kernel[...]
        bias = None if self.bias is None else self.bias[...]
        x, kernel, bias = self.promote_dtype((x, kernel, bias), dtype=self.dtype)
        k_in = math.prod(self.in_features)
        y = x.reshape(*x.shape[:x.ndim - n_in], k_in) @ kernel.reshape(k_in, -1)
        if bias is not None:
            y = y + bias.reshape(-1)
        return y.reshape(*y.shape[:-1], *self.out_features)


def _conv_windows(x: jax.Array, kernel: Sequence[int], strides: Sequence[int]):
    """The input slice each kernel offset reads, for a padded channels-last `x [B, *S, C]`."""
    out = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], kernel, strides)]
    for off in itertools.product(*(range(k) for k in kernel)):
        limit = tuple(o + (m - 1) * s + 1 for o, m, s in zip(off, out, strides))
        yield jax.lax.slice(x, (0, *off, 0), (x.shape[0], *limit, x.shape[-1]),
                            (1, *strides, 1))


def lax_conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
             padding: Sequence[tuple[int, int]], groups: int = 1) -> jax.Array:
    """XLA's convolution with `conv`'s channels-last signature (its reference off CPU)."""
    nd = x.ndim - 2
    dims = "N" + "DHW"[-nd:] + "C", "DHW"[-nd:] + "IO", "N" + "DHW"[-nd:] + "C"
    return jax.lax.conv_general_dilated(
        x, kernel, tuple(strides), tuple(tuple(p) for p in padding), feature_group_count=groups,
        dimension_numbers=jax.lax.conv_dimension_numbers(x.shape, kernel.shape, dims))


def conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
         padding: Sequence[tuple[int, int]], groups: int = 1) -> jax.Array:
    """Channels-last N-d convolution `x [B, *S, C_in]`, `kernel [*k, C_in/groups, C_out]`.

    On accelerators: `lax.conv_general_dilated` (cuDNN / the TPU's convolution units). On
    CPU, XLA's convolution (forward + gradients) is 1.6× (ViViT's tubelets) to 4-50× (STAT's
    stem and depthwise pooling) slower than matmuls of the same work (`benchmarks/conv.py`),
    so there the same result is computed as matmuls: a reshape when the kernel tiles the
    input (patch embeddings), a multiply-add per kernel offset for depthwise kernels, im2col
    otherwise -- except that with many input channels a forward pass that is not
    differentiated runs XLA's convolution, the faster one there (`_overlapping_conv`).
    Same parameters, same values either way.
    """
    kshape, nd = kernel.shape, x.ndim - 2
    strides, padding = tuple(strides), tuple(tuple(p) for p in padding)
    if jax.default_backend() != "cpu" or groups not in (1, x.shape[-1]) or (
            groups > 1 and kshape[-1] != groups):
        return lax_conv(x, kernel, strides, padding, groups)
    if any(lo or hi for lo, hi in padding):
        x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
    ks = kshape[:nd]
    if groups > 1:  # Depthwise: one multiply-add per kernel offset.
        w = kernel.reshape(-1, kshape[-1])
        return sum(win * w[i] for i, win in enumerate(_conv_windows(x, ks, strides)))
    sizes, c = x.shape[1:-1], x.shape[-1]
    if ks == strides and all(n % k == 0 for n, k in zip(sizes, ks)):  # Non-overlapping.
        return patchify(x, ks) @ kernel.reshape(-1, kshape[-1])
    if c < _XLA_FORWARD_MIN_CHANNELS:
        return _im2col_conv(x, kernel, strides)
    return _overlapping_conv(x, kernel, strides)


def patchify(x: jax.Array, patch: Sequence[int]) -> jax.Array:
    """`[B, *S, C]` → `[B, *S/patch, prod(patch)·C]`: each patch flattened in the kernel's
    (offsets…, channel) order, e.g. 'b (t kt) (h kh) (w kw) c -> b t h w (kt kh kw c)'."""
    nd = len(patch)
    grid = " ".join(f"n{i}" for i in range(nd))
    offsets = " ".join(f"k{i}" for i in range(nd))
    split = " ".join(f"(n{i} k{i})" for i in range(nd))
    return einops.rearrange(x, f"b {split} c -> b {grid} ({offsets} c)",
                            **{f"k{i}": k for i, k in enumerate(patch)})


# From this many input channels, XLA:CPU's own convolution is the faster *forward* (STAT's
# stem convs 1-2: 52.7 / 35.5 ms against im2col's 103.9 / 49.2; with 3 or 16 channels im2col
# is 2-5× faster; `benchmarks/conv.py`, BENCHMARKS.md).
_XLA_FORWARD_MIN_CHANNELS = 32


def _im2col_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...]) -> jax.Array:
    """Convolution of a padded `x` as one matmul over its im2col matrix."""
    cols = jnp.concatenate(list(_conv_windows(x, kernel.shape[:-2], strides)), axis=-1)
    return cols @ kernel.reshape(-1, kernel.shape[-1])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _overlapping_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...]) -> jax.Array:
    """A convolution of a padded `x` on CPU: XLA's when only the forward pass is needed, the
    im2col matmul (forward and gradients) when differentiated.

    XLA:CPU's convolution gradients are 5-20× slower than the matmul form's, but with many
    input channels its forward beats building the im2col matrix (whose copy costs more than
    its matmul). Evaluation and inference take the first; a train step is unchanged.
    """
    return lax_conv(x, kernel, strides, ((0, 0),) * (x.ndim - 2))


def _overlapping_conv_fwd(x, kernel, strides):
    return jax.vjp(lambda x, k: _im2col_conv(x, k, strides), x, kernel)


def _overlapping_conv_bwd(strides, vjp, g):
    return vjp(g)


_overlapping_conv.defvjp(_overlapping_conv_fwd, _overlapping_conv_bwd)


@jax.custom_vjp
def attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """`jax.nn.dot_product_attention(q, k, v)` (XLA form, no mask or bias) over `[B, N, H, D]`,
    with a hand-written backward: the forward's softmax weights are kept, not recomputed.
    Not differentiated (evaluation, inference), it is jax.nn's own function.

    Same math as jax.nn's: float32 (or wider) logits scaled by `D**-0.5`, softmax in float32,
    weights cast to the values' dtype.
    """
    return jax.nn.dot_product_attention(q, k, v, implementation="xla")


def _attention_fwd(q, k, v):
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k,
                        preferred_element_type=jnp.promote_types(q.dtype, jnp.float32))
    logits = logits * jnp.asarray(q.shape[-1] ** -0.5, logits.dtype)
    p = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
    out = jnp.einsum("bhqk,bkhd->bqhd", p, v)
    return out, (q, k, v, p, out)


def _attention_bwd(res, d_out):
    q, k, v, p, out = res
    d_v = jnp.einsum("bhqk,bqhd->bkhd", p, d_out)
    d_p = jnp.einsum("bqhd,bkhd->bhqk", d_out, v, preferred_element_type=jnp.float32)
    # Σ_k P·dP = dO·O per query: the softmax Jacobian's row term from [B, Nq, H, D] alone.
    row = jnp.einsum("bqhd,bqhd->bhq", d_out.astype(jnp.float32), out.astype(jnp.float32))
    d_logits = (p.astype(jnp.float32) * (d_p - row[..., None])
                * (q.shape[-1] ** -0.5)).astype(q.dtype)
    d_q = jnp.einsum("bhqk,bkhd->bqhd", d_logits, k)
    d_k = jnp.einsum("bhqk,bqhd->bkhd", d_logits, q)
    return d_q, d_k, d_v


attention.defvjp(_attention_fwd, _attention_bwd)
