"""The shared encoder stack: scan and remat keep the outputs and gradients of the loop."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from vivit_jax import sharding
from vivit_jax.models import cpu_kernels, layers


def _encoder(scan, remat=False, drop_path=0.0):
    return layers.Encoder(3, 16, 2, 32, drop_path=drop_path, scan=scan, remat=remat,
                          rngs=nnx.Rngs(0))


@pytest.mark.parametrize("remat", [False, True])
def test_scan_equals_loop(remat):
    loop, scanned = _encoder(False), _encoder(True, remat=remat)
    params = nnx.to_pure_dict(nnx.state(loop, nnx.Param))
    nnx.update(scanned, layers.stack_blocks(params, 3))
    x = jax.random.normal(jax.random.key(1), (2, 5, 16))
    np.testing.assert_allclose(scanned(x)[0], loop(x)[0], rtol=1e-5, atol=1e-5)
    # Attention maps come back per layer in both layouts.
    w_loop = loop(x, return_weights=True)[1]
    w_scan = scanned(x, return_weights=True)[1]
    assert len(w_scan) == 3
    np.testing.assert_allclose(np.stack(w_scan), np.stack(w_loop), rtol=1e-5, atol=1e-6)

    def loss(m):
        return (m(x, train=True, rngs=nnx.Rngs(dropout=0))[0] ** 2).sum()

    g_loop = nnx.to_pure_dict(nnx.grad(loss)(loop))
    g_scan = layers.unstack_blocks(nnx.to_pure_dict(nnx.grad(loss)(scanned)))
    for a, b in zip(jax.tree.leaves(g_loop), jax.tree.leaves(g_scan)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def test_stack_unstack_roundtrip_and_axes():
    scanned = _encoder(True)
    params = nnx.to_pure_dict(nnx.state(scanned, nnx.Param))
    k = params["encoderblock"]["MlpBlock_3"]["Dense_0"]["kernel"]
    assert k.shape == (3, 16, 32)
    back = layers.stack_blocks(layers.unstack_blocks(params), 3)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(back)):
        np.testing.assert_array_equal(a, b)
    axes = sharding.logical_axes(nnx.state(scanned, nnx.Param))
    assert axes["encoderblock"]["MlpBlock_3"]["Dense_0"]["kernel"] == (None, "embed", "mlp")


def test_scanned_drop_path_uses_per_layer_rates():
    enc = _encoder(True, drop_path=0.5)
    assert enc.drop_path_rates == pytest.approx((0.0, 0.25, 0.5))
    x = jnp.ones((64, 4, 16))
    a = enc(x, train=True, rngs=nnx.Rngs(dropout=0))[0]
    b = enc(x, train=True, rngs=nnx.Rngs(dropout=1))[0]
    assert not np.allclose(a, b)  # Stochastic in training…
    np.testing.assert_allclose(enc(x)[0], enc(x)[0])  # …deterministic at eval.
    # The rates reach the stacked blocks: at max rate 1 the schedule is (0, 1), so in
    # training layer 0 always runs and layer 1 is always skipped, whatever the key: the
    # output is `encoder_norm(block_0(x))` of the unstacked twin. (Every block of the stack
    # is built with the max rate; only the per-layer rate passed at call time says 0.)
    # Built abstractly and filled with random values: no initialiser compiles.
    def abstract(scan, rate):
        return nnx.split(nnx.eval_shape(lambda: layers.Encoder(
            2, 16, 2, 32, drop_path=rate, scan=scan, rngs=nnx.Rngs(0))))

    rng = np.random.default_rng(0)
    graphdef, state = abstract(False, 0.0)
    loop = nnx.merge(graphdef, jax.tree.map(
        lambda a: jnp.asarray(0.3 * rng.standard_normal(a.shape), a.dtype), state))
    graphdef, state = abstract(True, 1.0)
    nnx.replace_by_pure_dict(state, layers.stack_blocks(
        nnx.to_pure_dict(nnx.state(loop, nnx.Param)), 2))
    scanned = nnx.merge(graphdef, state)
    x = jax.random.normal(jax.random.key(2), (8, 5, 16))
    want, full = nnx.jit(lambda m, x: (m.encoder_norm(m.encoderblock_0(x)[0]), m(x)[0]))(loop, x)
    assert np.abs(np.asarray(want - full)).max() > 1e-2  # Layer 1 does change it.
    train = nnx.jit(lambda m, x, key: m(x, train=True, rngs=nnx.Rngs(dropout=key))[0])
    for seed in (0, 1):
        np.testing.assert_allclose(train(scanned, x, jax.random.key(seed)), want,
                                   rtol=1e-5, atol=1e-5)


def assert_scan_matches_loop(loop, scanned, v, fwd, grads):
    """Loads `loop`'s params stacked into `scanned` (a `model.scan=True` twin whose stack is
    `Transformer`); logits and gradients must agree (float rounding only)."""
    params = nnx.to_pure_dict(nnx.state(loop, nnx.Param))
    params["Transformer"] = layers.stack_blocks(params["Transformer"], loop.Transformer.depth)
    state = nnx.state(scanned, nnx.Param)
    nnx.replace_by_pure_dict(state, params)
    nnx.update(scanned, state)
    np.testing.assert_allclose(fwd(scanned, v)[0], fwd(loop, v)[0], rtol=1e-5, atol=1e-5)
    g_scan = nnx.to_pure_dict(grads(scanned, v))
    g_scan["Transformer"] = layers.unstack_blocks(g_scan["Transformer"])
    g_loop = nnx.to_pure_dict(grads(loop, v))
    for a, b in zip(jax.tree.leaves(g_loop), jax.tree.leaves(g_scan)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("x_shape,kernel,strides,padding,groups", [
    ((2, 8, 12, 12, 3), (3, 3, 3), (2, 2, 2), ((1, 1),) * 3, 1),   # STAT stem conv_0.
    ((2, 4, 6, 6, 5), (3, 3, 3), (1, 2, 2), ((1, 1),) * 3, 1),     # Odd sizes, stride 1 in t.
    ((2, 7, 7, 3), (3, 3), (2, 1), ((1, 0),) * 2, 1),              # 2D, uneven padding.
    ((1, 4, 6, 6, 32), (3, 3, 3), (1, 2, 2), ((1, 1),) * 3, 1),    # >= 32 channels: XLA fwd.
    ((2, 5, 5, 32), (3, 3), (2, 2), ((0, 1),) * 2, 1),             # The same in 2D.
    ((2, 4, 8, 8, 3), (2, 4, 4), (2, 4, 4), ((0, 0),) * 3, 1),     # Tubelet: a reshape.
    ((3, 7, 6), (2,), (2,), ((0, 0),), 1),                         # VidTr conv pooling.
    ((2, 7, 7, 6), (3, 3), (2, 2), ((1, 1),) * 2, 6),              # Depthwise, stride 2.
    ((2, 4, 4, 6), (3, 3), (1, 1), ((1, 1),) * 2, 6),              # Depthwise, stride 1.
])
def test_conv_equals_lax_convolution(x_shape, kernel, strides, padding, groups):
    """The CPU forms of `cpu_kernels.conv` give lax.conv's values and gradients."""
    cin = x_shape[-1]
    cout = cin if groups > 1 else 4
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, x_shape)
    w = jax.random.normal(kw, kernel + (cin // groups, cout))

    def ref(x, w):
        return cpu_kernels.lax_conv(x, w, strides, padding, groups)

    def ours(x, w):
        return cpu_kernels.conv(x, w, strides, padding, groups)

    np.testing.assert_allclose(ours(x, w), ref(x, w), rtol=1e-5, atol=1e-5)
    cot = jax.random.normal(jax.random.key(1), ref(x, w).shape)
    g_ref = jax.grad(lambda x, w: jnp.sum(ref(x, w) * cot), argnums=(0, 1))(x, w)
    g_ours = jax.grad(lambda x, w: jnp.sum(ours(x, w) * cot), argnums=(0, 1))(x, w)
    for a, b in zip(g_ours, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_conv_layer_refuses_groups_that_do_not_divide():
    with pytest.raises(ValueError, match="groups=4 does not divide in=6"):
        layers.Conv(6, 8, (3, 3), groups=4, kernel_init=nnx.initializers.zeros,
                    bias_init=nnx.initializers.zeros, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("n_in,bias,dtype", [(1, True, jnp.float32), (2, True, jnp.float32),
                                              (1, False, jnp.bfloat16)])
def test_linear_equals_linear_general(n_in, bias, dtype):
    # Attention's projections run as one 2D matmul (`cpu_kernels.HeadsLinear`): the values of
    # LinearGeneral's own dot_general, and the gradients, for q/k/v (1 axis in) and out (2).
    in_f, out_f = ((8,), (2, 4)) if n_in == 1 else ((2, 4), (8,))
    axis = -1 if n_in == 1 else (-2, -1)
    make = lambda cls: cls(in_f, out_f, axis=axis, use_bias=bias, dtype=dtype,  # noqa: E731
                           bias_init=nnx.initializers.normal(1.0), rngs=nnx.Rngs(0))
    ours, lin = make(cpu_kernels.HeadsLinear), make(nnx.LinearGeneral)
    x = jax.random.normal(jax.random.key(1), (3, 5, *in_f))
    got, want = ours(x), lin(x)
    assert got.shape == want.shape == (3, 5, *out_f) and got.dtype == want.dtype == dtype
    tol = 1e-5 if dtype == jnp.float32 else 2e-2
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32),
                               rtol=tol, atol=tol)
    g_got = jax.grad(lambda x: ours(x).astype(jnp.float32).sum())(x)
    g_want = jax.grad(lambda x: lin(x).astype(jnp.float32).sum())(x)
    np.testing.assert_allclose(g_got, g_want, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape,dtype", [((3, 7, 2, 8), jnp.float32), ((2, 65, 4, 24), jnp.float32),
                                         ((2, 9, 3, 16), jnp.bfloat16)])
def test_cpu_attention_equals_jax_attention(shape, dtype):
    """`cpu_kernels.attention` (hand-written backward) gives `jax.nn.dot_product_attention`'s
    values and q/k/v gradients (under jit, as the train step takes them)."""
    q, k, v, cot = (jax.random.normal(jax.random.key(i), shape, dtype) for i in range(4))
    ref = lambda q, k, v: jax.nn.dot_product_attention(q, k, v, implementation="xla")  # noqa: E731
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == jnp.float32 else dict(rtol=2e-2, atol=2e-2)
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    np.testing.assert_allclose(f32(jax.jit(cpu_kernels.attention)(q, k, v)), f32(ref(q, k, v)),
                               **tol)
    loss = lambda f: lambda q, k, v: jnp.sum((f(q, k, v) * cot).astype(jnp.float32))  # noqa: E731
    g_ours = jax.jit(jax.grad(loss(cpu_kernels.attention), argnums=(0, 1, 2)))(q, k, v)
    g_ref = jax.grad(loss(ref), argnums=(0, 1, 2))(q, k, v)
    for name, a, b in zip("qkv", g_ours, g_ref):
        assert a.dtype == dtype, name
        np.testing.assert_allclose(f32(a), f32(b), **tol, err_msg=f"d{name}")
    assert float(jnp.abs(g_ref[0].astype(jnp.float32)).max()) > 0.1  # Not a vacuous match.


def test_attention_uses_the_cpu_form_only_by_default_on_cpu():
    """`model.attention_impl=''` takes `cpu_kernels.attention` on CPU (its custom VJP is in
    the jaxpr); 'xla' keeps jax.nn's own form."""
    q = jnp.ones((2, 5, 2, 4))
    cpu = str(jax.make_jaxpr(lambda q: layers.dot_product_attention(q, q, q)[0])(q))
    xla = str(jax.make_jaxpr(
        lambda q: layers.dot_product_attention(q, q, q, implementation="xla")[0])(q))
    assert "custom_vjp_call" in cpu and "custom_vjp_call" not in xla
