"""Label sets (class splits over one head): parsing, the loss, and the on-device hits agree
with the host metrics and with the EK-100 definitions written out by hand."""
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from vivit_jax import label_sets, state

SETS = (("noun", 4), ("verb", 3))


def test_parse_and_check_against_num_classes():
    assert label_sets.parse("noun:300, verb:97") == (("noun", 300), ("verb", 97))
    assert label_sets.parse("") == ()
    assert label_sets.offsets(label_sets.parse("noun:300,verb:97")) == [0, 300]
    for bad in ("noun", "noun:x", "noun:0", "a:1,a:2", "action:3"):
        with pytest.raises(ValueError, match="label_sets"):
            label_sets.parse(bad)
    d = ml_collections.ConfigDict(dict(num_classes=398, label_sets="noun:300,verb:97",
                                       multi_label=False))
    with pytest.raises(ValueError, match="397 classes but dataset.num_classes=398"):
        label_sets.of(d)


def test_loss_is_the_mean_of_each_sets_softmax_cross_entropy():
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(5, 7)), jnp.float32)
    labels = jnp.asarray([[0, 2], [3, 1], [1, 0], [2, 2], [0, 0]])
    target = state.targets(labels, 7, False, SETS)
    assert target.shape == (5, 7) and np.all(np.asarray(target).sum(-1) == 2)
    got = state.classification_loss(logits, target, 0.1, False, SETS)
    noun = optax.softmax_cross_entropy(logits[:, :4], 0.9 * target[:, :4] + 0.1 / 4)
    verb = optax.softmax_cross_entropy(logits[:, 4:], 0.9 * target[:, 4:] + 0.1 / 3)
    np.testing.assert_allclose(got, (noun + verb) / 2, rtol=1e-6)


def test_device_hits_equal_host_metrics_and_the_ek100_definition():
    rng = np.random.default_rng(1)
    n = 64
    logits = rng.normal(size=(n, 7)).astype(np.float32) * 2
    labels = np.stack([rng.integers(0, 4, n), rng.integers(0, 3, n)], axis=1)
    target = state.targets(jnp.asarray(labels), 7, False, SETS)
    host = label_sets.metrics(logits, labels, SETS)["label_sets"]
    for k in (1, 5):
        dev = label_sets.hits(jnp.asarray(logits), target, SETS, k)
        for name in ("noun", "verb", "action"):
            assert float(dev[name].mean()) == pytest.approx(host[name][f"top{k}"])
    # By hand: action top-1 = both argmaxes right; top-5 = the true pair among the 5 largest
    # products of the noun and verb softmax probabilities (the EK-100 evaluation's scores).
    both = (logits[:, :4].argmax(-1) == labels[:, 0]) & (logits[:, 4:].argmax(-1) == labels[:, 1])
    assert host["action"]["top1"] == pytest.approx(both.mean())
    sm = lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)  # noqa: E731
    prod = sm(logits[:, :4])[:, :, None] * sm(logits[:, 4:])[:, None, :]  # [n, noun, verb]
    top5 = np.argsort(-prod.reshape(n, -1), axis=-1)[:, :5]
    hit5 = (top5 == (labels[:, 0] * 3 + labels[:, 1])[:, None]).any(-1)
    assert host["action"]["top5"] == pytest.approx(hit5.mean())
    assert 0 < host["action"]["top1"] < host["action"]["top5"] < 1


def test_probs_aggregate_is_per_set():
    """'probs' averages each set's own softmax over the views (not one softmax over K)."""
    rng = np.random.default_rng(2)
    views = rng.normal(size=(3, 4, 7))
    probs = label_sets.aggregate_probs(views, SETS)
    np.testing.assert_allclose(probs[:, :4].sum(-1), 1.0)
    np.testing.assert_allclose(probs[:, 4:].sum(-1), 1.0)
    e = np.exp(views[..., 4:])
    np.testing.assert_allclose(probs[:, 4:], (e / e.sum(-1, keepdims=True)).mean(1))


def test_two_label_synthetic_motion_records(tmp_path):
    """The two-label synthetic_motion holds the one-label set's videos, its motion as the verb
    and the shape render_video drew as the noun, at the joint head's indices."""
    import tensorflow as tf

    from vivit_jax.data import dmvr_format as dm
    from vivit_jax.data import synthetic

    sizes = dict(num_frames=4, image_size=16, train_size=6, validation_size=1, test_size=1,
                 num_shards=1)
    one = synthetic.ensure_synthetic_motion(tmp_path, num_classes=8, **sizes)
    two = synthetic.ensure_synthetic_motion(tmp_path, num_classes=13,
                                            label_sets="noun:5,verb:8", **sizes)
    assert one != two and dm.read_label_map(two)[4:6] == ["noun:ellipse", "verb:move_left"]
    read = lambda d: [dm.parse_sequence_example(r) for r in  # noqa: E731
                      tf.data.TFRecordDataset(dm.list_shards(d, "train"))]
    for a, b in zip(read(one), read(two)):
        motion, (noun, verb) = int(a["label_index"][0]), b["label_index"].numpy().tolist()
        assert verb == 5 + motion and 0 <= noun < 5
        assert a["frames"].numpy().tolist() == b["frames"].numpy().tolist()
    ex = tf.train.SequenceExample.FromString(
        next(iter(tf.data.TFRecordDataset(dm.list_shards(two, "train")))).numpy())
    assert ex.context.feature["clip/label/noun/text"].bytes_list.value[0].decode() in (
        synthetic.SHAPES)
    with pytest.raises(ValueError, match="its only label sets are 'noun:5,verb:K'"):
        synthetic.ensure_synthetic_motion(tmp_path, num_classes=13, label_sets="a:5,b:8")
