"""A released checkpoint end to end, as the README's "Start from a released video checkpoint":
vivit-convert → vivit-eval (multi-view) → vivit-predict → fine-tune with more frames; and the
refusals that leave the output untouched. The checkpoint is the tiny Hugging Face ViViT
fixture (written by `transformers` itself, tests/fixtures/hf_vivit) with an 8-class head named
after synthetic_motion's classes, so it evaluates on the embedded data.
"""
import hashlib
import json
import pathlib

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from tests.evaluate.helpers import moving_square, write_video
from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import config as config_lib
from vivit_jax import train
from vivit_jax.convert import convert, released, transfer
from vivit_jax.data import synthetic
from vivit_jax.evaluate import multiview, predict, predictions

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures/hf_vivit/gelu_fast"
# The runlocal-sized synthetic set (the cache other tests of the session share).
DATA = ["--config.dataset.name=synthetic_motion", "--config.dataset.min_resize=32",
        "--config.dataset.synthetic.train_size=64",
        "--config.dataset.synthetic.validation_size=32",
        "--config.dataset.synthetic.test_size=32"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("hf_vivit_8")
    tensors = load_file(FIXTURE / "model.safetensors")
    rng = np.random.default_rng(0)
    tensors["classifier.weight"] = rng.normal(0, 0.5, (8, 32)).astype(np.float32)
    tensors["classifier.bias"] = rng.normal(0, 0.1, (8,)).astype(np.float32)
    save_file(tensors, d / "model.safetensors")
    cfg = json.loads((FIXTURE / "config.json").read_text())
    names = list(synthetic.CLASSES[:8])
    cfg["id2label"] = {str(i): n for i, n in enumerate(names)}
    cfg["label2id"] = {n: i for i, n in enumerate(names)}
    (d / "config.json").write_text(json.dumps(cfg))
    return d / "model.safetensors"


@pytest.fixture(scope="module")
def workdir(checkpoint, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("converted") / "hf_vivit"
    assert convert.main(["--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    return out


def _tree_hash(path: pathlib.Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_convert_writes_a_workdir_with_every_tensor(checkpoint, workdir, capsys):
    assert {p.name for p in workdir.iterdir()} == {
        "config.json", "checkpoints", "label_map.json", "convert.json"}
    cfg = config_lib.load(str(workdir / "config.json"))
    assert (cfg.model.family, cfg.model.model_type, cfg.dataset.num_classes,
            cfg.dataset.num_frames, cfg.dataset.image_size) == (
                "vivit", "spatio_temporal", 8, 4, 32)
    rel = released.read(str(checkpoint))
    assert rel.format == "hf_vivit"
    saved = transfer.flatten(ckpt_lib.restore_params(workdir))
    assert sorted(saved) == sorted(rel.params)  # Every tensor, nothing fresh.
    for k, v in rel.params.items():
        np.testing.assert_array_equal(saved[k], v, err_msg=k)
    record = json.loads((workdir / "convert.json").read_text())
    assert record["format"] == "hf_vivit" and record["fresh"] == []
    assert json.loads((workdir / "label_map.json").read_text())["labels"] == list(
        synthetic.CLASSES[:8])


def test_eval_and_predict_work_on_the_converted_workdir(checkpoint, workdir, data_cache,
                                                        tmp_path, capsys):
    capsys.readouterr()
    argv = ["--workdir", str(workdir), "--views", "2x3", "--json",
            f"--config.dataset.data_dir={data_cache}", *DATA]
    assert multiview.main(argv) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["counts"]["views_per_video"] == 6 and s["checkpoint_step"] == 0
    assert set(s["single_view"]) >= {"top1", "top5"}
    pred = predictions.read(workdir / "eval_test_2x3" / "predictions.npz")
    assert pred["label_names"] == list(synthetic.CLASSES[:8])  # From the checkpoint.
    assert s["aggregate"] == "logits"  # hf_vivit's protocol (Scenic's): the config's default.
    # The official TimeSformer / VidTr protocol averages the softmax: the config says so.
    assert multiview.main(argv + ["--config.dataset.test_aggregate=probs"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["aggregate"] == "probs" and p["outdir"].endswith("eval_test_2x3_probs")
    assert p["single_view"] == s["single_view"]  # Clip-level: no aggregation involved.

    video = write_video(tmp_path / "clip.mp4", moving_square(n=12, h=40, w=48))
    assert predict.main(["--checkpoint", str(workdir), video, "--views", "1x1", "--top", "3",
                         "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res[0]["top"][0]["label"] in synthetic.CLASSES[:8]
    # The reported probabilities are the released model's own on that view.
    cfg, model = released.load_model(released.read(str(checkpoint)))
    view = predict.make_views(predict.decode(video, cfg.dataset.min_resize), cfg.dataset, 1, 1)
    logits = np.asarray(model(view, train=False)[0], np.float64)[0]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    top = np.argsort(-probs)[:3]
    assert [t["label"] for t in res[0]["top"]] == [synthetic.CLASSES[i] for i in top]
    np.testing.assert_allclose([t["probability"] for t in res[0]["top"]], probs[top], atol=1e-5)


def test_fine_tune_from_it_with_more_frames(workdir, data_cache, tmp_path, monkeypatch):
    # One step at lr 0: the saved params are exactly what init_from loaded.
    run = ["--config.num_train_steps=1", "--config.optim.lr=0.0",
           "--config.optim.warmup_steps=0", "--config.log_every_steps=1",
           "--config.eval_every_steps=0", "--config.eval_test_split=False",
           "--config.batch_size=8", "--config.eval_batch_size=8",
           f"--config.dataset.data_dir={data_cache}", *DATA]
    # A relative init_from path, as the README writes it (Orbax needs absolute ones).
    monkeypatch.chdir(workdir.parent)
    cfg = config_lib.load(str(workdir / "config.json"), run + [
        "--config.dataset.num_frames=8", f"--config.init_from.checkpoint={workdir.name}"])
    train.train_and_evaluate(cfg, str(tmp_path / "ft"))
    tuned = transfer.flatten(ckpt_lib.restore_params(tmp_path / "ft"))
    base = transfer.flatten(ckpt_lib.restore_params(workdir))
    pos = "Transformer/posembed_input/pos_embedding"
    assert base[pos].shape == (1, 1 + 2 * 16, 32) and tuned[pos].shape == (1, 1 + 4 * 16, 32)
    np.testing.assert_array_equal(tuned[pos][0, 0], base[pos][0, 0])  # CLS slot kept.
    grid = base[pos][0, 1:].reshape(2, 16, 32)  # 2 → 4 temporal positions, half-pixel linear.
    want = np.stack([grid[0], 0.75 * grid[0] + 0.25 * grid[1], 0.25 * grid[0] + 0.75 * grid[1],
                     grid[1]])
    np.testing.assert_allclose(tuned[pos][0, 1:].reshape(4, 16, 32), want, rtol=1e-6,
                               atol=1e-6)
    for k, v in base.items():
        if k != pos:
            np.testing.assert_array_equal(tuned[k], v, err_msg=k)  # Head included: 8 = 8.


def test_refusals_name_the_culprit_and_write_nothing(checkpoint, workdir, tmp_path, capsys):
    capsys.readouterr()
    before = _tree_hash(workdir)
    assert convert.main(["--checkpoint", str(checkpoint), "--out", str(workdir)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vivit-convert: error: ") and "already exists" in err
    assert len(err.splitlines()) == 1 and _tree_hash(workdir) == before

    # A tensor of another shape: named, with both shapes; the output is never created.
    tensors = load_file(checkpoint)
    tensors["vivit.encoder.layer.1.intermediate.dense.weight"] = np.zeros((48, 32), np.float32)
    bad = tmp_path / "bad"
    bad.mkdir()
    save_file(tensors, bad / "model.safetensors")
    (bad / "config.json").write_text((checkpoint.parent / "config.json").read_text())
    out = tmp_path / "never"
    assert convert.main(["--checkpoint", str(bad / "model.safetensors"), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "intermediate.dense" in err or "MlpBlock_3/Dense_0" in err, err
    assert "48" in err and "64" in err, err
    assert not out.exists()

    # Truncated file and a torch pickle: one line each, naming the file.
    data = checkpoint.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 3])
    assert convert.main(["--checkpoint", str(tmp_path / "cut.safetensors"),
                         "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cut.safetensors' is not a readable" in err, err
    (tmp_path / "model.pyth").write_bytes(b"\x80\x02}q\x00.")
    assert convert.main(["--checkpoint", str(tmp_path / "model.pyth"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "never unpickled" in err and "model.safetensors" in err and not out.exists()


def test_class_orders_are_aligned_by_name_and_other_classes_refused(workdir, data_cache,
                                                                    tmp_path, capsys):
    from vivit_jax.evaluate import restore
    data = ["air drumming", "abseiling", "zumba"]
    # vivit-prepare's underscores and another order: a permutation of the model's columns.
    order = restore.align_classes(["abseiling", "air_drumming", "Zumba"], data, "w")
    np.testing.assert_array_equal(order, [1, 0, 2])
    assert restore.align_classes(["air_drumming", "abseiling", "zumba"], data, "w") is None
    assert restore.align_classes(None, data, "w") is None
    with pytest.raises(ValueError, match=r"\['zumba'\] only in the data, \['yoga'\] only in"):
        restore.align_classes(["abseiling", "air drumming", "yoga"], data, "w")
    # vivit-eval refuses a checkpoint whose classes are not the data's, before evaluating.
    other = tmp_path / "other"
    import shutil
    shutil.copytree(workdir, other)
    names = list(synthetic.CLASSES[:7]) + ["juggling"]
    (other / "label_map.json").write_text(json.dumps({"labels": names}))
    capsys.readouterr()
    assert multiview.main(["--workdir", str(other), "--views", "1x1",
                           f"--config.dataset.data_dir={data_cache}", *DATA]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vivit-eval: error: the checkpoint's classes")
    assert "['shrink'] only in the data, ['juggling'] only in the checkpoint" in err, err
    assert len(err.splitlines()) == 1 and not (other / "eval_test_1x1").exists()


FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("fmt,pattern", [
    ("scenic", "scenic/*.msgpack"), ("hf_vivit", "hf_vivit/*/model.safetensors"),
    ("hf_timesformer", "hf_timesformer/*/model.safetensors"),
    ("timesformer", "timesformer/*.safetensors"), ("gluonmm", "gluonmm/*.safetensors")])
def test_every_fixture_is_detected_as_exactly_its_format(fmt, pattern):
    files = sorted(FIXTURES.glob(pattern))
    assert files, pattern
    for f in files:
        assert released.detect(str(f)) == [fmt], f


def test_another_resolution_resizes_the_spatial_position_embedding(checkpoint):
    rel = released.read(str(checkpoint))
    cfg = released.make_config(rel, ["--config.dataset.image_size=48"])
    params, report = released.to_params(rel, cfg)
    pos = params["Transformer"]["posembed_input"]["pos_embedding"]
    assert pos.shape == (1, 1 + 2 * 6 * 6, 32)  # 4×4 → 6×6 patches of 8, 2 tubelet steps.
    assert any(a.startswith("Transformer/posembed_input/pos_embedding: 1+(2, 4, 4) → "
                            "1+(2, 6, 6)") for a in report.adapted), report.adapted
    src = rel.params["Transformer/posembed_input/pos_embedding"][0, 1:].reshape(2, 4, 4, 32)
    got = pos[0, 1:].reshape(2, 6, 6, 32)
    # Each frame's grid resized bilinearly (half-pixel, no antialiasing), time untouched.
    import jax
    want = np.asarray(jax.image.resize(src, (2, 6, 6, 32), "linear", antialias=False))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(pos[0, 0], rel.params[
        "Transformer/posembed_input/pos_embedding"][0, 0])
