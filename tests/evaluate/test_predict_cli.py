"""`vivit-predict` on real video files with a freshly initialised checkpoint."""
import json

import numpy as np
import pytest
import tensorflow as tf

from tests.evaluate.helpers import make_workdir, moving_square, write_video
from vivit_jax import config as config_lib
from vivit_jax.data import examples, synthetic
from vivit_jax.evaluate import predict


@pytest.fixture(scope="module")
def vivit_dir(tmp_path_factory):
    return make_workdir(tmp_path_factory.mktemp("pr") / "vivit", "configs/synthetic/vivit_tiny.py")


def test_views_match_the_eval_pipeline(repo):
    # The same frames through vivit-eval's tf.data path (lossless PNG records) and predict's.
    cfg = config_lib.load(str(repo / "configs/synthetic/vivit_tiny.py")).dataset
    frames = moving_square(n=21, h=40, w=56)
    ex = {"frames": tf.stack([tf.io.encode_png(f) for f in frames]),
          "label_index": tf.constant([3], tf.int64), "video_id": tf.constant(b"v")}
    want = examples.eval_example(ex, cfg, num_clips=2, num_crops=3)["video"].numpy()
    assert want.dtype == np.uint8  # Normalised on the device, as make_views does here.
    np.testing.assert_array_equal(predict.make_views(frames, cfg, 2, 3, normalize=False), want)
    got = predict.make_views(frames, cfg, 2, 3)
    assert got.shape == (6, 8, 32, 32, 3)
    np.testing.assert_allclose(got, want / 127.5 - 1.0, atol=1e-6)  # minus_one_to_one


def test_predict_good_and_undecodable_videos(vivit_dir, tmp_path, capsys):
    good1 = write_video(tmp_path / "one.mp4", moving_square(seed=0))
    good2 = write_video(tmp_path / "two.mp4", moving_square(seed=1)[::-1].copy())
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    rc = predict.main(["--checkpoint", str(vivit_dir), good1, str(bad), good2,
                       "--views", "2x3", "--top", "8", "--json"])
    cap = capsys.readouterr()
    assert rc == 1
    res = json.loads(cap.out)
    assert [r["video"] for r in res] == [good1, good2]  # The broken file did not stop them.
    for r in res:
        assert r["views"] == "2x3" and len(r["top"]) == 8
        probs = [t["probability"] for t in r["top"]]
        assert sum(probs) == pytest.approx(1.0, abs=1e-5) and probs == sorted(probs)[::-1]
        assert {t["label"] for t in r["top"]} == set(synthetic.CLASSES[:8])  # label map
    err = cap.err.strip().splitlines()
    assert err[0].startswith(f"vivit-predict: error: {bad}: ") and "Traceback" not in cap.err
    assert err[-1] == "vivit-predict: 1 of 3 videos failed"
    # The printed probabilities are the model's on the views sampled like evaluation.
    cfg, model, _, _ = predict.load(str(vivit_dir))
    frames = predict.decode(good1, cfg.dataset.min_resize)
    probs = predict.predict_views(model, cfg, predict.make_views(frames, cfg.dataset, 2, 3))
    top = res[0]["top"][0]
    assert top["probability"] == pytest.approx(float(probs.max()), rel=1e-5)
    assert top["index"] == int(probs.argmax())


def test_predict_defaults_to_the_configs_test_views_and_aggregate(vivit_dir, tmp_path, capsys):
    # Issue 32: predict always took 1x3 views and averaged probabilities, so its answer
    # differed from vivit-eval's and the exported `views` signature's on the same checkpoint.
    video = write_video(tmp_path / "one.mp4", moving_square(seed=2))
    protocol = ["--config.dataset.test_clips=2", "--config.dataset.test_crops=3",
                "--config.dataset.test_aggregate=logits"]
    assert predict.main(["--checkpoint", str(vivit_dir), video, "--json", *protocol]) == 0
    (res,) = json.loads(capsys.readouterr().out)
    assert (res["views"], res["aggregate"]) == ("2x3", "logits")
    cfg, model, _, _ = predict.load(str(vivit_dir), overrides=protocol)
    views = predict.make_views(predict.decode(video, cfg.dataset.min_resize), cfg.dataset, 2, 3)
    logits = np.asarray(predict.forward(model, cfg, views)[0], np.float64)
    want = np.exp(logits.mean(0) - logits.mean(0).max())  # Softmax of the mean logits.
    want /= want.sum()
    got = np.zeros_like(want)
    for t in res["top"]:
        got[t["index"]] = t["probability"]
    order = np.argsort(-want, kind="stable")[:5]
    np.testing.assert_allclose(got[order], want[order], rtol=1e-5)


def test_predict_bad_views_and_missing_checkpoint(vivit_dir, tmp_path, capsys):
    assert predict.main(["--checkpoint", str(vivit_dir), "x.mp4", "--views", "0x3"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vivit-predict: error: --views '0x3'") and "\n" not in err
    assert predict.main(["--checkpoint", str(tmp_path / "nowhere"), "x.mp4"]) == 1
    assert "no checkpoint in" in capsys.readouterr().err
