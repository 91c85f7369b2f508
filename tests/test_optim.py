"""Optimiser: schedules hit their values, weight decay masks the right parameters, the
non-finite guard."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vivit_jax import config as config_lib
from vivit_jax import optim


def _optim(**kw):
    o = config_lib.defaults().optim
    o.update(kw)
    return o


def test_warmup_then_cosine():
    s = optim.make_schedule(_optim(lr=1.0, warmup_steps=10, schedule="cosine"), 110)
    assert float(s(0)) == 0.0
    assert float(s(5)) == pytest.approx(0.5)
    assert float(s(10)) == pytest.approx(1.0)
    assert float(s(60)) == pytest.approx(0.5, abs=1e-6)  # Half-way through the cosine.
    assert float(s(110)) == pytest.approx(0.0, abs=1e-7)


def test_a_warm_up_longer_than_the_run_names_the_override():
    # Issue 32: shrinking num_train_steps below a recipe's warm-up needs a second override;
    # the error says which.
    with pytest.raises(ValueError, match=r"^optim.warmup_steps=8390 must be < num_train_steps="
                                         r"100: a shorter run needs a shorter warm-up too, "
                                         r"e.g. --config.optim.warmup_steps=10$"):
        optim.make_schedule(_optim(warmup_steps=8390, schedule="cosine"), 100)


def test_linear_and_step():
    s = optim.make_schedule(_optim(lr=2.0, schedule="linear", end_lr_factor=0.5), 100)
    assert float(s(50)) == pytest.approx(1.5)
    s = optim.make_schedule(_optim(lr=1.0, schedule="step", step_boundaries=(0.5, 0.75),
                                   step_decay=0.1), 100)
    assert [float(s(i)) for i in (49, 50, 74, 75)] == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_weight_decay_mask():
    params = {"embedding": {"conv": {"kernel": 1, "bias": 1}}, "cls": 1,
              "Transformer": {"posembed_input": {"pos_embedding": 1},
                              "encoderblock_0": {"LayerNorm_0": {"scale": 1, "bias": 1},
                                                 "MlpBlock_3": {"Dense_0": {"kernel": 1}}}}}
    mask = optim.decay_mask(params, config_lib.defaults().optim.no_decay)
    assert mask["embedding"]["conv"] == {"kernel": True, "bias": False}
    assert mask["cls"] is False
    assert mask["Transformer"]["posembed_input"]["pos_embedding"] is False
    assert mask["Transformer"]["encoderblock_0"]["LayerNorm_0"] == {"scale": False, "bias": False}
    assert mask["Transformer"]["encoderblock_0"]["MlpBlock_3"]["Dense_0"]["kernel"] is True


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_decay_applies_only_to_masked(name):
    params = {"w": jnp.ones(3), "bias": jnp.ones(3)}
    tx, _ = optim.make_optimizer(_optim(name=name, lr=0.1, weight_decay=0.5,
                                        warmup_steps=0, schedule="constant"), params, 10)
    zero = {"w": jnp.zeros(3), "bias": jnp.zeros(3)}
    updates, _ = tx.update(zero, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new["bias"], 1.0)  # No gradient, no decay.
    np.testing.assert_allclose(new["w"], 1.0 - 0.1 * 0.5, rtol=1e-6)


def test_unknown_names_refused():
    with pytest.raises(ValueError, match="optim.name='lamb'"):
        optim.make_optimizer(_optim(name="lamb"), {"w": jnp.ones(1)}, 10)
    with pytest.raises(ValueError, match="optim.schedule='exp'"):
        optim.make_schedule(_optim(schedule="exp"), 10)


@pytest.mark.parametrize("form", optim.GUARD_FORMS)
def test_guarded_update_forms(form):
    tx = optax.sgd(0.1, momentum=0.9)
    params = {"w": np.array([[1.0, -2.0], [3.0, 0.5]], np.float32), "b": np.ones(3, np.float32)}
    grads = {"w": np.full((2, 2), 0.5, np.float32), "b": np.arange(3, dtype=np.float32)}
    opt = tx.init(params)
    upd = jax.jit(lambda p, o, g, f, tx=tx: optim.guarded_update(tx, g, p, o, f, form=form))
    # Finite: the plain update, and the new parameters' norm.
    (new, new_opt), norm = upd(params, opt, grads, True)
    updates, want_opt = tx.update(grads, opt, params)
    want = optax.apply_updates(params, updates)
    for a, b in zip(jax.tree.leaves((new, new_opt)), jax.tree.leaves((want, want_opt))):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(norm, optax.tree.norm(want), rtol=1e-6)
    # Not finite: both unchanged, and the old parameters' norm.
    (same, same_opt), norm = upd(params, new_opt, grads, False)
    for a, b in zip(jax.tree.leaves((same, same_opt)), jax.tree.leaves((params, new_opt))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(norm, optax.tree.norm(params), rtol=1e-6)
    # An update that overflows the parameters shows in their norm.
    big = jax.tree.map(lambda g: g * 1e30, grads)
    _, norm = upd(params, opt, big, True)
    assert not np.isfinite(norm)
    with pytest.raises(ValueError, match="form='nope'"):
        optim.guarded_update(tx, grads, params, opt, True, form="nope")
