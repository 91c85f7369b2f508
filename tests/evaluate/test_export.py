"""`vivit-export`: the SavedModel (loaded by plain TensorFlow in a process without vivit_jax)
and the deserialized StableHLO give the JAX model's logits; bad input and refusals."""
import json
import os
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.evaluate import helpers
from tests.evaluate.helpers import REPO, SMALL
from vivit_jax.data import video_ops
from vivit_jax.data.tf_quiet import tf
from vivit_jax.evaluate import export, metrics, predict, restore

FAMILIES = ["vivit_tiny", "vivit_fe_tiny", "vivit_fsa_tiny", "vivit_fdp_tiny",
            "timesformer_divided_tiny", "timesformer_joint_tiny", "timesformer_space_only_tiny",
            "vidtr_tiny", "vidtr_compact_tiny", "stat_tiny"]

# A fresh interpreter with plain TensorFlow and no vivit_jax (TF 2.21 itself imports jax),
# started once per test process (`tf_loader`): for each request line `OUT INPUTS RESULT` it
# loads OUT/saved_model, runs both signatures on INPUTS and answers one line, "ok" or the
# error. One TensorFlow start-up (~8 s of CPU) serves all ten families.
LOAD_SAVED_MODELS = textwrap.dedent("""
    import sys
    import traceback
    import numpy as np
    import tensorflow as tf
    for line in sys.stdin:
        try:
            out, inputs, result = line.split()
            inputs = np.load(inputs)
            model = tf.saved_model.load(out + "/saved_model")
            serve = model.signatures["serving_default"]
            res = {}
            for k in ("clip1", "clip3"):
                res[k] = serve(video=tf.constant(inputs[k]))["logits"].numpy()
            views = model.signatures["views"](video=tf.constant(inputs["views"]))
            res.update({"view_" + k: v.numpy() for k, v in views.items()})
            labels = open(model.labels.asset_path.numpy().decode()).read().split("\\n")[:-1]
            assert "vivit_jax" not in sys.modules, "imported vivit_jax"
            np.savez(result, labels=np.asarray(labels), **res)
            answer = "ok"
        except Exception:
            answer = traceback.format_exc().replace("\\n", " | ")
        print(answer, flush=True)
""")


@pytest.fixture(scope="module")
def tf_loader(tmp_path_factory):
    """`load(out, inputs_npz, result_npz)` in the plain-TensorFlow interpreter above."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cwd = tmp_path_factory.mktemp("tf_loader")
    with open(cwd / "stderr.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", LOAD_SAVED_MODELS], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=cwd)

    def load(out, inputs, result):
        proc.stdin.write(f"{out} {inputs} {result}\n")
        proc.stdin.flush()
        answer = proc.stdout.readline().strip()
        assert answer == "ok", answer or (f"the TensorFlow process ended ({proc.poll()}): "
                                          + (cwd / "stderr.txt").read_text()[-3000:])

    yield load
    proc.stdin.close()
    proc.wait(timeout=60)


def make_workdir(path, config: str):
    """helpers.make_workdir, with its width overrides only where the family has them (STAT's
    model has no `mlp_dim`; its runlocal size is already small)."""
    return helpers.make_workdir(path, config, [] if "stat" in config else SMALL)


def _videos(cfg, views: int):
    d = cfg.dataset
    rng = np.random.default_rng(0)
    shape = (d.num_frames, d.image_size, d.image_size, 3)
    return {"clip1": rng.integers(0, 256, (1, *shape), dtype=np.uint8),
            "clip3": rng.integers(0, 256, (3, *shape), dtype=np.uint8),
            "views": rng.integers(0, 256, (views, *shape), dtype=np.uint8)}


def _jax_logits(cfg, model, video_u8):
    """The pipeline's normalisation (tf, video_ops) then the NNX model, jitted (eager STAT
    takes 40 s), as vivit-eval runs it."""
    d = cfg.dataset
    x = video_ops.normalize(tf.convert_to_tensor(video_u8, tf.float32), d.normalization,
                            tuple(d.mean), tuple(d.std)).numpy()
    graphdef, state = nnx.split(model)
    fwd = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x, train=False)[0])
    return np.asarray(fwd(state, jnp.asarray(x)), np.float32)


def _all_logits(cfg, model, inputs):
    """Reference logits of every input, in one forward (one compilation)."""
    keys = ("clip1", "clip3", "views")
    logits = _jax_logits(cfg, model, np.concatenate([inputs[k] for k in keys]))
    return dict(zip(keys, np.split(logits, np.cumsum([len(inputs[k]) for k in keys])[:-1])))


# Logits of the random-head tiny models reach ±20: float32 round-off of another XLA build
# (TensorFlow's) is ~1e-5 absolute there, so the tolerance is 1e-5 absolute and relative.
TOL = dict(atol=1e-5, rtol=1e-5)

@pytest.mark.parametrize("name", FAMILIES)
def test_export_matches_jax(tmp_path, tf_loader, name):
    wd = make_workdir(tmp_path / "wd", f"configs/synthetic/{name}.py:runlocal")
    out = str(tmp_path / "export")
    meta = export.run(str(wd), out, views="2x3", platforms=("cpu",), log=None)
    assert meta["views"]["shape"][0] == 6 and meta["input"]["shape"][0] == "batch"
    cfg, model, _, _ = predict.load(str(wd))
    inputs = _videos(cfg, 6)
    exp = jax.export.deserialize(bytearray(open(f"{out}/clips.jax_exported", "rb").read()))
    params = list(np.load(f"{out}/params.npz").values())
    ref = _all_logits(cfg, model, inputs)
    for k in ("clip1", "clip3"):
        got = np.asarray(exp.call(params, inputs[k])["logits"])
        np.testing.assert_allclose(got, ref[k], **TOL)
        assert got.shape == (len(inputs[k]), cfg.dataset.num_classes)

    np.savez(tmp_path / "in.npz", **inputs)
    tf_loader(out, tmp_path / "in.npz", tmp_path / "tf.npz")
    tf_out = np.load(tmp_path / "tf.npz")

    for k in ("clip1", "clip3"):
        np.testing.assert_allclose(tf_out[k], ref[k], **TOL)
    view_logits = ref["views"]
    agg = cfg.dataset.test_aggregate
    scores = metrics.aggregate_views(view_logits[None], agg, cfg.dataset.multi_label)[0]
    np.testing.assert_allclose(tf_out["view_view_logits"], view_logits, **TOL)
    np.testing.assert_allclose(tf_out["view_scores"], scores, **TOL)
    probs = scores if agg == "probs" else metrics.probabilities(scores)
    # Logits within 1e-5 (TOL) move a softmax probability p by at most p(1-p)·1e-5 ≤ 2.5e-6.
    np.testing.assert_allclose(tf_out["view_probabilities"], probs, atol=2.5e-6, rtol=0)
    views_exp = jax.export.deserialize(bytearray(open(f"{out}/views.jax_exported", "rb").read()))
    np.testing.assert_allclose(np.asarray(views_exp.call(params, inputs["views"])["scores"]),
                               scores, **TOL)
    assert list(tf_out["labels"]) == restore.label_names(cfg, wd)


@pytest.mark.parametrize("aggregate", ["logits", "probs"])
def test_views_function_aggregates_like_vivit_eval(tmp_path, aggregate):
    """Both protocols of `metrics.aggregate_views`, inside the exported function."""
    wd = make_workdir(tmp_path / "wd", "configs/synthetic/vivit_tiny.py:runlocal")
    cfg, model, _, _ = predict.load(str(wd))
    cfg.unlock()
    cfg.dataset.test_aggregate = aggregate
    params, _, views_fn = export.serving_functions(cfg, model)
    views = _videos(cfg, 4)["views"]
    got = jax.jit(views_fn)(params, views)
    view_logits = _jax_logits(cfg, model, views)
    want = metrics.aggregate_views(view_logits[None], aggregate)[0]
    np.testing.assert_allclose(np.asarray(got["scores"]), want, atol=1e-5)
    assert abs(float(got["probabilities"].sum()) - 1.0) < 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    wd = make_workdir(tmp / "wd", "configs/synthetic/vivit_tiny.py:runlocal")
    export.run(str(wd), str(tmp / "out"), views="1x3", platforms=("cpu",), log=None)
    return wd, str(tmp / "out")


BAD = [("frames", (1, 4, 32, 32, 3), np.uint8), ("size", (1, 8, 16, 16, 3), np.uint8),
       ("dtype", (1, 8, 32, 32, 3), np.float32)]


@pytest.mark.parametrize("what,shape,dtype", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_clear_error(exported, what, shape, dtype):
    _, out = exported
    model = tf.saved_model.load(f"{out}/saved_model")
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        model.signatures["serving_default"](video=tf.zeros(shape, dtype))
    msg = str(e.value)
    assert ("expected shape [?,8,32,32,3]" if what != "dtype" else "expected to be a uint8") in msg
    expected = r"TensorSpec\(shape=\(None, 8, 32, 32, 3\), dtype=tf.uint8"
    with pytest.raises(TypeError, match=expected):
        model.clips(tf.zeros(shape, dtype))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected shape \[3,8,32,32,3\]"):
        model.signatures["views"](video=tf.zeros((2, 8, 32, 32, 3), tf.uint8))
    exp = jax.export.deserialize(bytearray(open(f"{out}/clips.jax_exported", "rb").read()))
    params = list(np.load(f"{out}/params.npz").values())
    with pytest.raises(ValueError, match=r"expected (\(b, 8, 32, 32, 3\)|uint8)"):
        exp.call(params, np.zeros(shape, dtype))


def test_artifacts_and_metadata(exported):
    wd, out = exported
    meta = json.load(open(f"{out}/export.json"))
    assert meta["input"] == {"dtype": "uint8", "shape": ["batch", 8, 32, 32, 3],
                             "normalization": "minus_one_to_one", "mean": [0.485, 0.456, 0.406],
                             "std": [0.229, 0.224, 0.225]}
    assert meta["views"] == {"views": "1x3", "shape": [3, 8, 32, 32, 3], "aggregate": "logits"}
    labels = open(f"{out}/labels.txt").read().splitlines()
    assert labels == open(f"{out}/saved_model/assets/labels.txt").read().splitlines()
    assert len(labels) == meta["num_classes"] == 8


def _cli(args, capsys):
    rc = export.main(args)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


def test_cli_refusals_write_nothing(tmp_path, exported, capsys):
    wd, out = exported
    before = sorted(os.listdir(out))
    cases = [
        (["--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "o1")], "nope"),
        (["--checkpoint", str(wd), "--out", out], "already holds an export"),
        (["--checkpoint", str(wd), "--out", str(wd / "config.json" / "sub")],
         "config.json is not a writable directory"),
        (["--checkpoint", str(wd), "--out", str(tmp_path / "o2"), "--format", "onnx"],
         "--format onnx"),
        (["--checkpoint", str(wd), "--out", str(tmp_path / "o3"), "--views", "2x2"],
         "spatial crops must be 1 or 3"),
    ]
    for args, culprit in cases:
        rc, err = _cli(args, capsys)
        assert rc == 1 and len(err) == 1, err
        assert err[0].startswith("vivit-export: error:") and culprit in err[0], err
    assert sorted(os.listdir(out)) == before
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 4))


def test_cli_exports_saved_model_only(tmp_path, exported, capsys):
    wd, _ = exported
    rc = export.main(["--checkpoint", str(wd / "checkpoints" / "1"), "--out",
                      str(tmp_path / "o"), "--format", "saved_model", "--views", "none",
                      "--platforms", "cpu"])
    assert rc == 0
    assert sorted(os.listdir(tmp_path / "o")) == ["export.json", "labels.txt", "saved_model"]
    model = tf.saved_model.load(str(tmp_path / "o" / "saved_model"))
    assert list(model.signatures) == ["serving_default"]


def test_help_is_fast():
    """--help parses before anything heavy is imported (no jax, no TensorFlow)."""
    code = ("import sys\nfrom vivit_jax.evaluate import export\n"
            "try:\n    export.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('heavy:', [m for m in ('jax', 'tensorflow') if m in sys.modules])")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 0 and "--checkpoint" in proc.stdout, proc.stderr
    assert "heavy: []" in proc.stdout
    assert time.perf_counter() - t0 < 5


def test_weights_are_arguments_not_constants(exported):
    """What lets a 2.4 GB ViViT-L export (BENCHMARKS.md): no weight is a constant of the
    graph (protobuf's 2 GB limit on saved_model.pb, flatbuffers' on .jax_exported); every
    tensor of params.npz is an input of the StableHLO and a variable of the SavedModel."""
    _, out = exported
    params = list(np.load(f"{out}/params.npz").values())
    exp = jax.export.deserialize(bytearray(open(f"{out}/clips.jax_exported", "rb").read()))
    assert [tuple(a.shape) for a in exp.in_avals[:-1]] == [p.shape for p in params]
    model = tf.saved_model.load(f"{out}/saved_model")
    assert sorted(v.shape.as_list() for v in model.params) == sorted(
        list(p.shape) for p in params)
