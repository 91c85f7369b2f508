"""End to end: train a tiny ViViT, then `vivit-eval` it with several view protocols."""
import json
import pathlib

import numpy as np
import pytest

from vivit_jax import config as config_lib
from vivit_jax import train
from vivit_jax.evaluate import multiview, predictions, restore

TINY = "configs/synthetic/vivit_tiny.py:runlocal"
REPO = pathlib.Path(__file__).resolve().parents[2]


def overrides(data_cache):
    return [f"--config.dataset.data_dir={data_cache}", "--config.log_every_steps=10",
            "--config.eval_every_steps=0", "--config.model.hidden_size=32",
            "--config.model.num_heads=2", "--config.model.mlp_dim=64",
            "--config.batch_size=16", "--config.eval_batch_size=16",
            "--config.num_train_steps=30", "--config.checkpoint_every_steps=30",
            "--config.dataset.synthetic.train_size=16", "--config.optim.lr=3e-3"]


@pytest.fixture(scope="module")
def trained(data_cache, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("eval_run")
    cfg = config_lib.load(str(REPO / TINY), overrides(data_cache))
    results = train.train_and_evaluate(cfg, str(workdir))
    return workdir, results


def _eval(repo, data_cache, workdir, *extra):
    argv = ["--config", str(repo / TINY), "--workdir", str(workdir), *overrides(data_cache),
            *extra]
    return multiview.main(argv)


def test_eval_1x1_matches_trainer_and_2x3_counts(repo, data_cache, trained, capsys):
    workdir, results = trained
    # 1×1 = centre clip, centre crop: exactly the trainer's own test evaluation.
    assert _eval(repo, data_cache, workdir, "--views", "1x1", "--json") == 0
    one = json.loads(capsys.readouterr().out)
    assert one["counts"] == {"videos": 32, "views_per_video": 1, "views": 32}
    assert one["checkpoint_step"] == 30
    assert one["metrics"]["top1"] == pytest.approx(results["test"]["top1"], abs=1e-6)
    assert one["metrics"]["top5"] == pytest.approx(results["test"]["top5"], abs=1e-6)
    # One view per video: clip-level and video-level are the same number.
    assert one["single_view"]["top1"] == pytest.approx(one["metrics"]["top1"], abs=1e-9)

    # Restored onto another mesh (params split over fsdp and model): the same numbers.
    assert _eval(repo, data_cache, workdir, "--views", "1x1", "--json", "--out",
                 str(workdir / "other_mesh"),
                 "--config.mesh=(('data', 2), ('fsdp', 2), ('model', 2))") == 0
    other = json.loads(capsys.readouterr().out)
    assert other["metrics"] == pytest.approx(one["metrics"], abs=1e-6)
    # 24 videos per batch: the second batch is 8 videos and 16 padding rows.
    assert _eval(repo, data_cache, workdir, "--views", "2x3", "--aggregate", "probs",
                 "--batch_size", "24", "--json") == 0
    s = json.loads(capsys.readouterr().out)
    out = workdir / "eval_test_2x3_probs"  # Its own directory: never the logits run's.
    assert s["counts"] == {"videos": 32, "views_per_video": 6, "views": 32 * 6}
    saved = json.loads((out / "summary.json").read_text())
    assert saved["metrics"] == s["metrics"] and saved["single_view"] == s["single_view"]
    pred = predictions.read(out / "predictions.npz")
    np.testing.assert_array_equal(pred["video_index"], np.arange(32))
    assert pred["label_names"][:2] == restore.label_names(
        config_lib.load(str(repo / TINY), overrides(data_cache)))[:2]
    # The JSON's top-1 is that of the saved scores (mean probabilities over the 6 views).
    assert s["metrics"]["top1"] == pytest.approx(
        float((pred["probs"].argmax(-1) == pred["labels"]).mean()))
    # 16 clips and 30 steps do not generalise (test top-1 near chance) but are fitted: the
    # trainer's last batches reach train accuracy 1, so evaluating the train split must too.
    assert _eval(repo, data_cache, workdir, "--views", "1x3", "--split", "train", "--json") == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["counts"]["videos"] == 16 and fit["metrics"]["top1"] >= 0.75, fit["metrics"]
    rows = (out / "per_class.csv").read_text().splitlines()
    assert len(rows) == 1 + 8 and (out / "confusion.png").stat().st_size > 1000


def test_eval_needs_no_train_split(repo, data_cache, trained, tmp_path, capsys):
    # Issue 32: a released checkpoint is evaluated on shards that hold only the split to
    # evaluate; `resolve_data_dir` refused them ("no shards for split 'train'").
    workdir, results = trained
    from vivit_jax.data import pipeline
    src = pathlib.Path(pipeline.resolve_data_dir(
        config_lib.load(str(repo / TINY), overrides(data_cache)).dataset))
    only = tmp_path / "test_only"
    only.mkdir()
    for f in [*src.glob("test-*"), src / "label_map.json"]:
        (only / f.name).write_bytes(f.read_bytes())
    assert _eval(repo, data_cache, workdir, "--views", "1x1", "--json", "--out",
                 str(tmp_path / "out"), "--config.dataset.name=dmvr",
                 f"--config.dataset.data_dir={only}") == 0
    s = json.loads(capsys.readouterr().out)
    assert s["counts"]["videos"] == 32
    assert s["metrics"]["top1"] == pytest.approx(results["test"]["top1"], abs=1e-6)


def test_checkpoint_of_other_size_names_the_tensor(repo, data_cache, trained, capsys):
    workdir, _ = trained
    rc = _eval(repo, data_cache, workdir, "--views", "1x1", "--config.model.hidden_size=64")
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "does not fit the config" in err and "(32" in err and "64" in err, err


def test_a_config_typo_exits_2_as_in_train_and_profile(repo, data_cache, trained, tmp_path,
                                                       capsys):
    # Issue 32: vivit-train and vivit-profile exit 2 on a misspelt key, vivit-eval exited 1.
    from vivit_jax.evaluate import predict, rollout
    workdir, _ = trained
    typo = "--config.batch_sise=8"
    runs = {"eval": lambda: _eval(repo, data_cache, workdir, typo),
            "predict": lambda: predict.main(["--checkpoint", str(workdir), "v.mp4", typo]),
            "rollout": lambda: rollout.main(["v.mp4", "--checkpoint", str(workdir), "--out",
                                             str(tmp_path / "r.png"), typo])}
    for name, run in runs.items():
        assert run() == 2, name
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(
            f"vivit-{name}: error: unknown config key 'batch_sise' (did you mean "
            f"'batch_size'?); config has ['activation_rules', 'batch_size', "), err


@pytest.mark.parametrize("views", ["0x3", "2x2", "abc"])
def test_bad_views_one_line_error(repo, data_cache, trained, capsys, views):
    workdir, _ = trained
    assert _eval(repo, data_cache, workdir, "--views", views) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vivit-eval: error: --views") and len(err.splitlines()) == 1


def test_missing_checkpoint_step(repo, data_cache, trained, capsys):
    workdir, _ = trained
    assert _eval(repo, data_cache, workdir, "--checkpoint", "7") == 1
    assert "checkpoint step 7 not in" in capsys.readouterr().err
    # A step directory that is not there (issue 32: "no checkpoint in …/checkpoints/7/
    # checkpoints"): the step and the steps the run has.
    assert _eval(repo, data_cache, workdir, "--checkpoint", str(workdir / "checkpoints/7")) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"vivit-eval: error: checkpoint step 7 not in {workdir / 'checkpoints'} (has [30])"]


def test_missing_split_names_it_and_the_default(repo, data_cache, trained, capsys):
    workdir, _ = trained
    assert _eval(repo, data_cache, workdir, "--config.dataset.test_split=holdout") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vivit-eval: error: no shards for split 'holdout'")
    assert err.endswith("(the config's test split is the default; --split picks another)")
    assert _eval(repo, data_cache, workdir, "--split", "holdout") == 1
    assert "--split picks another" not in capsys.readouterr().err


def test_single_view_metrics_score_every_view_alone():
    # 2 videos × 3 views, 3 classes; labels 0 and 2. Video 0: views right, right, wrong;
    # video 1: views wrong, wrong, right but confident. Clip-level top-1 = 3/6; aggregated
    # logits get video 0 right (2 of 3 views) and video 1 right (the confident view wins).
    v = np.zeros((2, 3, 3), np.float32)
    v[0, 0, 0] = v[0, 1, 0] = 1.0
    v[0, 2, 1] = 1.0
    v[1, 0, 0] = v[1, 1, 1] = 1.0
    v[1, 2, 2] = 5.0
    labels = np.array([0, 2])
    sv = predictions.single_view_metrics(v, labels, False)
    assert sv["top1"] == pytest.approx(0.5) and sv["top5"] == pytest.approx(1.0)
    video = predictions.per_video(v, "logits", False)["scores"]
    assert (video.argmax(-1) == labels).mean() == 1.0
