"""Epic-Kitchens-100 end to end on a stand-in (tests/fixtures/epic_kitchens/make_standin.py):
official CSVs + long videos → vivit-prepare → a tiny training run → vivit-eval with noun, verb
and action figures recomputed here from predictions.npz; a Scenic-layout EK checkpoint (one
397-way head) converts and evaluates the same way."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from flax import serialization

from vivit_jax import config as config_lib
from vivit_jax import train
from vivit_jax.convert import released
from vivit_jax.data import annotations, prepare
from vivit_jax.data import dmvr_format as dm
from vivit_jax.evaluate import multiview, predictions

REPO = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "make_standin", REPO / "tests/fixtures/epic_kitchens/make_standin.py")
standin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(standin)

EK = "noun:300,verb:97"
# The stand-in's clips as the models see them: 8 frames of each 12-frame segment, 32².
DATA = ["--config.dataset.name=dmvr", "--config.dataset.num_classes=397",
        f"--config.dataset.label_sets={EK}", "--config.dataset.num_frames=8",
        "--config.dataset.stride=1", "--config.dataset.image_size=32",
        "--config.dataset.min_resize=32", "--config.dataset.cache_decoded=False",
        "--config.dataset.train_pp=", "--config.dataset.test_split=validation"]


@pytest.fixture(scope="module")
def ek(tmp_path_factory):
    """(stand-in dir, prepared shards dir, {split: report})."""
    src = standin.make(tmp_path_factory.mktemp("ek_standin"))
    out = tmp_path_factory.mktemp("ek_shards")
    reports = {}
    # No --split: the file names give train and validation; the test CSV is known by its
    # columns (no verb / noun: EPIC_100_test_timestamps.csv ends at stop_frame).
    for split, csv in (("train", "EPIC_100_train.csv"), ("validation", "EPIC_100_validation.csv"),
                       ("test", "EPIC_100_test_timestamps.csv")):
        reports[split] = prepare.run(["--annotations", str(src / csv), "--video_dir",
                                      str(src / "videos"), "--output_dir", str(out),
                                      "--min_resize", "32", "--workers", "1"])
        assert reports[split]["split"] == split
    return src, out, reports


def _records(out, split):
    recs = {}
    for f in dm.list_shards(out, split):
        for r in tf.data.TFRecordDataset(f):
            ex = tf.train.SequenceExample.FromString(r.numpy())
            ctx = {k: list(v.int64_list.value) or [b.decode() for b in v.bytes_list.value]
                   for k, v in ex.context.feature.items()}
            ctx["num_frames"] = len(ex.feature_lists.feature_list[dm.IMAGE_KEY].feature)
            recs[ctx[dm.VIDEO_FILENAME_KEY][0]] = ctx
    return recs


def test_prepare_cuts_segments_with_both_label_sets(ek):
    _, out, reports = ek
    assert [reports[s]["written"] for s in ("train", "validation", "test")] == [9, 3, 3]
    # The validation CSV's P03_01 does not exist: skipped and counted, the run goes on.
    assert reports["validation"]["skipped_count"] == 1
    assert "P03_01" in reports["validation"]["skipped"][0]["path"]
    labels = dm.read_label_map(out)
    assert len(labels) == 397 and labels[:3] == ["noun:tomato", "noun:lettuce", "noun:plate"]
    assert labels[300:302] == ["verb:move-right", "verb:move-left"] and labels[3] == "noun:#3"
    recs = _records(out, "train")
    # P01_02 (official layout P01/videos/) segment 1: plate (noun 2), move-left (verb 1).
    r = recs["P01_02_1"]
    assert r[dm.LABEL_INDEX_KEY] == [2, 300 + 1]
    assert (r["clip/label/noun/index"], r["clip/label/verb/index"]) == ([2], [1])
    assert (r["clip/label/noun/text"], r["clip/label/verb/text"]) == (["plate"], ["move-left"])
    start = standin.GAP_S + 1 * (standin.SEGMENT_S + standin.GAP_S)
    assert r[dm.START_KEY] == [round(start * 1e6)]
    assert r[dm.END_KEY] == [round((start + standin.SEGMENT_S) * 1e6)]
    assert r["num_frames"] == round(standin.SEGMENT_S * 10)  # 1.2 s at 10 fps.
    assert "P02_01_0" in recs  # The flat layout, P02_01.MP4 under --video_dir.
    test = _records(out, "test")
    assert sorted(test) == ["P01_01_3", "P01_02_3", "P02_01_3"]
    assert all(not t.get(dm.LABEL_INDEX_KEY) for t in test.values())  # No labels.


def test_test_csv_known_by_its_columns_and_half_labelled_refused(ek, tmp_path, capsys):
    src, _, _ = ek
    test_csv = src / "EPIC_100_test_timestamps.csv"
    header = test_csv.read_text().splitlines()[0].split(",")
    assert header == list(standin.TEST_HEADER) and header[-1] == "stop_frame"
    renamed = tmp_path / "segments.csv"  # Any name: the columns tell.
    renamed.write_text(test_csv.read_text())
    for fmt in ("auto", "epic_kitchens"):
        assert annotations.is_epic_kitchens_test(renamed, fmt)
        assert not annotations.is_epic_kitchens_test(src / "EPIC_100_validation.csv", fmt)
    # A CSV with some label columns but not all: one line naming the missing ones, nothing
    # written.
    lines = (src / "EPIC_100_train.csv").read_text().splitlines()
    cols = lines[0].split(",")
    keep = [i for i, c in enumerate(cols) if c not in ("verb_class", "noun")]
    half = tmp_path / "EPIC_100_train.csv"
    half.write_text("\n".join(",".join(r.split(",")[i] for i in keep) for r in lines) + "\n")
    out = tmp_path / "out"
    capsys.readouterr()
    assert prepare.main(["--annotations", str(half), "--video_dir", str(src / "videos"),
                         "--output_dir", str(out), "--format", "epic_kitchens"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vivit-prepare: error: ")
    assert str(half) in err[0] and "missing ['verb_class', 'noun']" in err[0], err
    assert not out.exists()


def _cut_frames_see_the_segment(out):
    """The segment's own frames were decoded (not the gap's grey): the square is there."""
    ex = next(iter(tf.data.TFRecordDataset(dm.list_shards(out, "validation")[0])))
    frames = dm.parse_sequence_example(ex)["frames"]
    return [float(tf.io.decode_jpeg(f).numpy().std()) for f in frames]


def test_segment_frames_are_the_actions_not_the_gaps(ek):
    assert min(_cut_frames_see_the_segment(ek[1])) > 10  # Grey gaps have std ~0.


def _recompute(pred):
    """noun / verb / action top-1 and top-5 from a predictions.npz, by the EK-100 rules."""
    assert str(pred["label_sets"]) == EK
    logits, labels = pred["logits"].astype(np.float64), pred["labels"]
    assert labels.shape == (len(logits), 2)

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    noun, verb = softmax(logits[:, :300]), softmax(logits[:, 300:])
    out = {}
    for name, p, y in (("noun", noun, labels[:, 0]), ("verb", verb, labels[:, 1])):
        top = np.argsort(-p, axis=-1)[:, :5]
        out[name] = {"top1": float(np.mean(top[:, 0] == y)),
                     "top5": float(np.mean((top == y[:, None]).any(-1)))}
    joint = (noun[:, :, None] * verb[:, None, :]).reshape(len(logits), -1)
    top = np.argsort(-joint, axis=-1)[:, :5]
    true = labels[:, 0] * 97 + labels[:, 1]
    both = (np.argmax(noun, -1) == labels[:, 0]) & (np.argmax(verb, -1) == labels[:, 1])
    out["action"] = {"top1": float(np.mean(top[:, 0] == true)),
                     "top5": float(np.mean((top == true[:, None]).any(-1)))}
    assert out["action"]["top1"] == float(both.mean())  # Top-1 action = both right.
    return out


def _check_eval(workdir, argv, capsys):
    capsys.readouterr()  # What ran before (training's log).
    assert multiview.main(["--workdir", str(workdir), "--json", *argv]) == 0
    s = json.loads(capsys.readouterr().out)
    pred = predictions.read(pathlib.Path(s["outdir"]) / "predictions.npz")
    assert s["counts"]["videos"] == 3
    assert sorted(map(tuple, pred["labels"].tolist())) == [(0, 1), (1, 0), (2, 1)]
    sets = s["metrics"]["label_sets"]
    again = _recompute(pred)
    assert set(sets) == set(again) == {"noun", "verb", "action"}
    for name in again:
        assert sets[name] == pytest.approx(again[name], abs=1e-9)
    assert s["metrics"]["top1"] == sets["action"]["top1"]
    rows = (pathlib.Path(s["outdir"]) / "per_class.csv").read_text().splitlines()
    assert rows[0].startswith("label_set,class_index") and len(rows) == 1 + 397
    return s


def test_train_then_eval_reports_noun_verb_action(ek, tmp_path, capsys):
    _, out, _ = ek
    cfg = config_lib.load(str(REPO / "configs/synthetic/vivit_tiny_ek.py:runlocal"), [
        *DATA, f"--config.dataset.data_dir={out}", "--config.model.hidden_size=32",
        "--config.model.num_heads=2", "--config.model.mlp_dim=64", "--config.batch_size=8",
        "--config.eval_batch_size=8", "--config.num_train_steps=6",
        "--config.checkpoint_every_steps=6", "--config.eval_every_steps=0",
        "--config.log_every_steps=3"])
    results = train.train_and_evaluate(cfg, str(tmp_path))
    logged = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_rows = [m for m in logged if m["split"] == "train"]
    assert {"noun_accuracy", "verb_accuracy", "action_accuracy"} <= set(train_rows[-1])
    val = results["validation"]
    for k in ("noun_top1", "verb_top1", "action_top1", "noun_top5", "verb_top5", "action_top5"):
        assert 0.0 <= val[k] <= 1.0
    assert val["top1"] == val["action_top1"]
    s = _check_eval(tmp_path, ["--views", "1x1", "--split", "validation"], capsys)
    # 1×1 is the trainer's own evaluation: the same noun / verb / action top-1.
    for name in ("noun", "verb", "action"):
        assert s["metrics"]["label_sets"][name]["top1"] == pytest.approx(val[f"{name}_top1"])
    _check_eval(tmp_path, ["--views", "2x1", "--split", "validation", "--aggregate", "probs"],
                capsys)


def _scenic_ek_checkpoint(path):
    """Scenic's ViViT FE train state in the released EK layout, tiny: 8×8×2 tubelets, hidden
    16, one spatial and one temporal layer, a 397-way output_projection."""
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.2  # noqa: E731
    d, heads, mlp = 16, 2, 32

    def enc(tokens):
        ln = lambda: {"scale": np.ones(d, np.float32), "bias": np.zeros(d, np.float32)}  # noqa
        attn = {p: {"kernel": r(d, heads, d // heads), "bias": r(heads, d // heads)}
                for p in ("query", "key", "value")}
        attn["out"] = {"kernel": r(heads, d // heads, d), "bias": r(d)}
        block = {"LayerNorm_0": ln(), "MultiHeadDotProductAttention_0": attn, "LayerNorm_1": ln(),
                 "MlpBlock_0": {"Dense_0": {"kernel": r(d, mlp), "bias": r(mlp)},
                                "Dense_1": {"kernel": r(mlp, d), "bias": r(d)}}}
        return {"encoderblock_0": block, "posembed_input": {"pos_embedding": r(1, tokens, d)},
                "encoder_norm": ln()}

    params = {"embedding": {"kernel": r(2, 8, 8, 3, d), "bias": r(d)},
              "output_projection": {"kernel": r(d, 397), "bias": r(397)},
              "SpatialTransformer": enc(1 + 4 * 4), "TemporalTransformer": enc(1 + 4),
              "cls_SpatialTransformer": r(1, 1, d), "cls_TemporalTransformer": r(1, 1, d)}
    path.write_bytes(serialization.msgpack_serialize({"params": params, "global_step": 1}))


def test_scenic_ek_checkpoint_converts_and_evaluates(ek, tmp_path, capsys):
    _, out, _ = ek
    ckpt, workdir = tmp_path / "checkpoint", tmp_path / "converted"
    _scenic_ek_checkpoint(ckpt)
    released.convert(str(ckpt), str(workdir), overrides=[
        "dataset.num_frames=8", "dataset.image_size=32"], log=lambda s: None)
    cfg = json.loads((workdir / "config.json").read_text())["dataset"]
    assert (cfg["num_classes"], cfg["label_sets"]) == (397, EK)
    s = _check_eval(workdir, ["--views", "2x1", "--split", "validation",
                              f"--config.dataset.data_dir={out}",
                              "--config.dataset.min_resize=32"], capsys)
    assert s["views"] == "2x1"


def test_the_papers_ek_recipe_runs_shrunk(ek, tmp_path):
    """configs/epic_kitchens' recipe (mixup of the two-hot targets, label smoothing within
    each set, RandAugment, stochastic depth) trains on the stand-in with a shrunk model."""
    _, out, _ = ek
    cfg = config_lib.load(str(REPO / "configs/epic_kitchens/vivit_b16x2_fe_32x1x1_ek.py"), [
        f"--config.dataset.data_dir={out}", "--config.model.variant=Ti/8x2",
        "--config.model.hidden_size=32", "--config.model.num_layers=1",
        "--config.model.num_heads=2", "--config.model.mlp_dim=64",
        "--config.model.temporal_layers=1", "--config.dataset.num_frames=8",
        "--config.dataset.image_size=32", "--config.dataset.min_resize=32",
        "--config.dataset.train_pp=scale_jitter(32, 42)|random_crop(32)|flip|randaug(2, 10)",
        "--config.batch_size=8", "--config.eval_batch_size=8", "--config.num_train_steps=2",
        "--config.optim.warmup_steps=0", "--config.log_every_steps=1",
        "--config.eval_every_steps=0", "--config.checkpoint_every_steps=2",
        "--config.dataset.test_split=validation"])
    assert (cfg.dataset.mixup_alpha, cfg.label_smoothing, cfg.model.drop_path) == (0.1, 0.2, 0.2)
    results = train.train_and_evaluate(cfg, str(tmp_path))
    assert np.isfinite(results["train"]["loss"]) and results["train"]["loss"] > 0
    assert results["validation"]["num_examples"] == 3


def test_a_class_outside_its_set_is_an_unknown_label(ek, tmp_path):
    src, _, _ = ek
    rows = (src / "EPIC_100_train.csv").read_text().splitlines()
    bad = rows[1].split(",")
    bad[12] = "300"  # noun_class: EK-100 has 300 nouns, 0..299.
    (tmp_path / "EPIC_100_train.csv").write_text("\n".join([rows[0], ",".join(bad)]) + "\n")
    with pytest.raises(ValueError, match=r"EPIC_100_train.csv:2: label 'noun:300' is not in "
                                         r"the label map .*\(397 labels\)"):
        prepare.run(["--annotations", str(tmp_path / "EPIC_100_train.csv"), "--video_dir",
                     str(src / "videos"), "--output_dir", str(tmp_path / "out"),
                     "--workers", "1"])
