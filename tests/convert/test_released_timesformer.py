"""Released TimeSformer checkpoints (Hugging Face and official) load with exact logit parity.

The fixtures are tiny models written by `tests/fixtures/{hf_timesformer,timesformer}/
make_fixtures.py` with transformers' and the official `vit.py`'s own code, random non-zero
weights everywhere; the logits they computed are compared with ours (float32, ≤ 1e-4).
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import load_file, save_file

from vivit_jax import state as state_lib
from vivit_jax.convert import released, transfer
from vivit_jax.models import timesformer

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
HF = FIXTURES / "hf_timesformer"
OFFICIAL = FIXTURES / "timesformer"
LABELS = ["abseiling", "air drumming", "answering questions", "applauding", "applying cream"]


@nnx.jit
def forward(model, video):
    return model(video)


def logits_of(rel: released.Released, video: np.ndarray, overrides=()) -> np.ndarray:
    _, model = released.load_model(rel, overrides)
    return np.asarray(forward(model, jnp.asarray(video))[0])


@pytest.mark.parametrize("kind", ["divided_space_time", "joint_space_time"])
def test_hugging_face_logits_match(kind):
    rel = released.read(str(HF / kind / "model.safetensors"))  # Format detected.
    assert rel.format == "hf_timesformer"
    assert rel.label_names == LABELS
    model, data = rel.config["model"], rel.config["dataset"]
    assert (model["attention_type"], model["num_heads"], model["hidden_size"],
            model["approximate_gelu"]) == (kind, 4, 32, False)  # hidden_act 'gelu' = erf.
    assert (data["num_frames"], data["image_size"], data["num_classes"]) == (4, 32, 5)
    # No preprocessor_config.json beside: what the weights were trained with (official).
    assert (data["mean"], data["std"]) == ((0.45,) * 3, (0.225,) * 3)
    # The official test protocol: 1 clip × 3 crops, softmax averaged over the views.
    assert (data["test_clips"], data["test_crops"], data["test_aggregate"]) == (1, 3, "probs")
    expected = np.load(HF / "expected.npz")
    video = expected["pixel_values"].transpose(0, 1, 3, 4, 2)  # [B, T, C, H, W] → ours.
    got = logits_of(rel, video)
    np.testing.assert_allclose(got, expected[kind], rtol=0, atol=1e-4)
    assert np.abs(expected[kind]).max() > 0.5  # Logits that say something.


@pytest.mark.parametrize("kind", ["divided_space_time", "joint_space_time", "space_only"])
def test_official_logits_match(kind):
    rel = released.read(str(OFFICIAL / f"{kind}.safetensors"))
    assert rel.format == "timesformer"
    model, data = rel.config["model"], rel.config["dataset"]
    assert model["attention_type"] == kind  # Inferred from the tensors.
    assert (data["num_frames"], data["image_size"], data["num_classes"]) == (
        8 if kind == "space_only" else 4, 32, 5)
    assert (data["stride"], data["test_clips"], data["test_crops"], data["mean"]) == (
        256 // data["num_frames"], 1, 3, (0.45, 0.45, 0.45))
    # Fused qkv hides the head count (width 32 → 1 head); the fixture has 4.
    assert model["num_heads"] == 1 and any("num_heads" in n for n in rel.notes)
    expected = np.load(OFFICIAL / "expected.npz")
    video = expected["video"].transpose(0, 2, 3, 4, 1)  # [B, C, T, H, W] → ours.
    got = logits_of(rel, video, ["model.num_heads=4"])
    np.testing.assert_allclose(got, expected[kind], rtol=0, atol=1e-4)
    if kind == "divided_space_time":  # The same weights split into 1 head: another model.
        assert np.abs(logits_of(rel, video) - expected[kind]).max() > 1e-3


def _copy(src: pathlib.Path, dst: pathlib.Path, tensors=None) -> str:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if tensors is None:
        shutil.copy(src, dst)
    else:
        save_file(tensors, str(dst))
    return str(dst)


def test_hugging_face_base_model_without_prefix_or_classifier(tmp_path):
    """`TimesformerModel` keys have no `timesformer.` prefix and no classifier."""
    src = HF / "divided_space_time"
    tensors = {k.removeprefix("timesformer."): v
               for k, v in load_file(str(src / "model.safetensors")).items()
               if not k.startswith("classifier.")}
    path = _copy(src, tmp_path / "model.safetensors", tensors)
    shutil.copy(src / "config.json", tmp_path / "config.json")
    json.dump({"image_mean": [0.45] * 3, "image_std": [0.225] * 3,
               "size": {"shortest_edge": 36}, "crop_size": {"height": 32, "width": 32}},
              open(tmp_path / "preprocessor_config.json", "w"))
    # Format named: hf_vivit.matches also claims an unprefixed TimesformerModel (see report).
    base = released.read(path, "hf_timesformer")
    assert "head/kernel" not in base.params and any("classifier" in n for n in base.notes)
    data = base.config["dataset"]
    assert (data["mean"], data["std"], data["min_resize"]) == ((0.45,) * 3, (0.225,) * 3, 36)
    full = released.read(str(src / "model.safetensors"))
    video = jnp.asarray(np.load(HF / "expected.npz")["pixel_values"].transpose(0, 1, 3, 4, 2))
    out_base = forward(released.load_model(base)[1], video)[1]
    out_full = forward(released.load_model(full)[1], video)[1]
    np.testing.assert_array_equal(out_base["pre_logits"], out_full["pre_logits"])


def test_hugging_face_needs_its_config_json(tmp_path):
    path = _copy(HF / "joint_space_time" / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(released.ReleasedError, match=r"needs the config\.json.*does not exist"):
        released.read(path)


def test_hugging_face_space_only_is_refused(tmp_path):
    """HF's space_only returns per-frame logits [B·T, K]: not the official Space model."""
    src = HF / "joint_space_time"
    path = _copy(src / "model.safetensors", tmp_path / "model.safetensors")
    cfg = json.loads((src / "config.json").read_text())
    cfg["attention_type"] = "space_only"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(released.ReleasedError, match=r"space_only.*every frame separately"):
        released.read(path)


@pytest.mark.parametrize("fmt, src, name", [
    ("hf", HF / "divided_space_time" / "model.safetensors",
     "timesformer.encoder.layer.1.intermediate.dense.weight"),
    ("official", OFFICIAL / "divided_space_time.safetensors", "model.blocks.1.mlp.fc1.weight"),
])
def test_a_wrong_shape_names_the_tensor_and_both_shapes(tmp_path, fmt, src, name):
    tensors = load_file(str(src))
    assert tensors[name].shape == (64, 32)
    tensors[name] = tensors[name][:60]
    path = _copy(src, tmp_path / "model.safetensors", tensors)
    if fmt == "hf":
        shutil.copy(src.parent / "config.json", tmp_path / "config.json")
    with pytest.raises(released.ReleasedError,
                       match=rf"{name.replace('.', '[.]')}'?: expected \(64, 32\), "
                             rf"found \(60, 32\)"):
        released.read(path)


def test_hugging_face_model_runs_other_frame_counts():
    """HF's TimeSformer cannot change num_frames (transformers#38027); ours resizes
    time_embed and runs."""
    rel = released.read(str(HF / "divided_space_time" / "model.safetensors"))
    cfg = released.make_config(rel, ["dataset.num_frames=8"])
    params, report = released.to_params(rel, cfg)
    assert any(a.startswith("time_embed:") for a in report.adapted)
    want = timesformer.resize_time_embedding(jnp.asarray(rel.params["time_embed"]), 8)
    np.testing.assert_allclose(params["time_embed"], want, rtol=1e-6, atol=1e-6)
    assert transfer.flatten(params)["time_embed"].shape == (1, 8, 32)
    model = state_lib.create_model(cfg, nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    nnx.replace_by_pure_dict(state, params)
    nnx.update(model, state)
    video = jax.random.normal(jax.random.key(0), (1, 8, 32, 32, 3))
    logits, _ = forward(model, video)
    assert logits.shape == (1, 5) and np.isfinite(np.asarray(logits)).all()


# ViT-B shapes from the tiny fixtures' shapes (hidden 32 → 768, MLP 64 → 3072, qkv 96 → 2304,
# 1+4² → 1+14² tokens, 4 → 8 frames, 8² → 16² patches, 5 → 400 classes); 2 blocks keep it fast.
VIT_B = {32: 768, 64: 3072, 96: 2304, 17: 197, 4: 8, 8: 16, 5: 400}


def _vit_b(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal([VIT_B.get(n, n) for n in v.shape], np.float32) * 0.02
            for k, v in tensors.items()}


@pytest.mark.parametrize("fmt", ["hf_timesformer", "timesformer"])
def test_released_size_checkpoint_converts_to_a_workdir(tmp_path, fmt):
    if fmt == "hf_timesformer":
        src = HF / "divided_space_time" / "model.safetensors"
        cfg = json.loads((src.parent / "config.json").read_text())
        cfg.update(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                   image_size=224, patch_size=16, num_frames=8,
                   id2label={str(i): f"class {i}" for i in range(400)})
        (tmp_path / "ckpt").mkdir()
        (tmp_path / "ckpt" / "config.json").write_text(json.dumps(cfg))
    else:
        src = OFFICIAL / "divided_space_time.safetensors"
    path = _copy(src, tmp_path / "ckpt" / "model.safetensors", _vit_b(load_file(str(src))))
    out = tmp_path / "workdir"
    record = released.convert(path, str(out), log=lambda s: None)
    assert record["format"] == fmt and record["fresh"] == []
    m = record["model"]
    assert (m["variant"], m["hidden_size"], m["num_heads"], m["mlp_dim"], m["num_layers"]) == (
        "B/16", 768, 12, 3072, 2)
    n_tensors = 5 + 2 * 28 + 2 + 2  # embedding, cls, pos, time | 28 per block | norm | head.
    assert len(record["loaded"]) == n_tensors and record["unused_source"] == []
    written = json.loads((out / "config.json").read_text())
    data = written["dataset"]
    assert (data["num_frames"], data["stride"], data["image_size"], data["min_resize"],
            data["num_classes"], data["test_clips"], data["test_crops"]) == (
        8, 32, 224, 224, 400, 1, 3)
    assert os.path.exists(out / "checkpoints" / "0")
    assert (out / "label_map.json").exists() == (fmt == "hf_timesformer")
