"""The trainer with label sets (Epic-Kitchens-style noun + verb): each set's top-1 on the
console beside the action's, and in the metric files."""
import json
import re

import jax

from vivit_jax import config as config_lib
from vivit_jax import train


def test_console_eval_line_shows_each_label_sets_top1(repo, data_cache, tmp_path, capsys):
    cfg = config_lib.load(str(repo / "configs/synthetic/vivit_tiny_ek.py:runlocal"), [
        f"--config.dataset.data_dir={data_cache}", "--config.model.hidden_size=32",
        "--config.model.num_heads=2", "--config.model.mlp_dim=64", "--config.batch_size=8",
        "--config.eval_batch_size=16", "--config.num_train_steps=4",
        "--config.checkpoint_every_steps=4", "--config.eval_every_steps=2",
        "--config.log_every_steps=2", "--config.eval_test_split=False"])
    results = train.train_and_evaluate(cfg, str(tmp_path), devices=jax.devices()[:1])
    out = capsys.readouterr().out
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    val_rows = [r for r in rows if r["split"] == "validation"]
    assert [r["step"] for r in val_rows] == [2, 4]

    # One console line per evaluation, its figures those of the metric file's row.
    lines = re.findall(r"^step (\d+): validation top1 (\S+) top5 (\S+) loss \S+ \((\d+) clips\)"
                       r"; top1 noun (\S+) verb (\S+) action (\S+)$", out, re.M)
    assert [int(x[0]) for x in lines] == [2, 4], out
    for (_, top1, top5, clips, noun, verb, action), row in zip(lines, val_rows):
        assert int(clips) == row["num_examples"] == 32
        assert float(top1) == float(action) == round(row["action_top1"], 4)
        assert float(top1) == round(row["top1"], 4)
        assert float(top5) == round(row["action_top5"], 4)
        assert float(noun) == round(row["noun_top1"], 4)
        assert float(verb) == round(row["verb_top1"], 4)
    # The final summary line too, from results.json's figures.
    val = results["validation"]
    assert (f"  validation: top1 {val['top1']:.4f}  top5 {val['top5']:.4f}  loss "
            f"{val['loss']:.4f}  (32 clips); top1 noun {val['noun_top1']:.4f} verb "
            f"{val['verb_top1']:.4f} action {val['action_top1']:.4f}") in out.splitlines()

    # Metric files: every set's top-1 / top-5 per evaluation, every set's train accuracy.
    for key in ("noun_top1", "verb_top1", "action_top1", "noun_top5", "verb_top5",
                "action_top5", "top1", "top5", "loss", "num_examples"):
        assert all(0.0 <= r[key] for r in val_rows) and key in val
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == [2, 4]
    for key in ("noun_accuracy", "verb_accuracy", "action_accuracy", "accuracy"):
        assert all(0.0 <= r[key] <= 1.0 for r in train_rows)
    assert json.loads((tmp_path / "results.json").read_text())["validation"] == val
