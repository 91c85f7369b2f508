"""Released ViViT checkpoints (Scenic msgpack, Hugging Face safetensors) load with logit parity.

The fixtures under tests/fixtures/{scenic,hf_vivit}/ were written by the reference code
itself (Scenic's flax.linen ViViT Models 1-4; transformers' VivitForVideoClassification with
gelu_fast and gelu), with random non-zero weights, with the logits it computed on a fixed
clip (make_fixtures.py beside them). Here no torch, transformers or Scenic is imported.
"""
import dataclasses
import json
import pathlib
import shutil

import numpy as np
import pytest
from flax import nnx, serialization
from safetensors.numpy import load_file, save_file

from vivit_jax import state as state_lib
from vivit_jax.convert import released, transfer
from vivit_jax.convert.released import ReleasedError

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
SCENIC, HF = FIXTURES / "scenic", FIXTURES / "hf_vivit"
TOL = 1e-4


def clip(npz) -> np.ndarray:
    """The fixture clip as both references saw it: uint8 pixels / 127.5 - 1, [B, T, H, W, C]."""
    return npz["pixels"].astype(np.float32) / 127.5 - 1.0


# ---------------------------------------------------------------------------------------
# Scenic: Models 1-4 against Scenic's own logits.
# ---------------------------------------------------------------------------------------
SCENIC_CASES = [
    ("model1_spatio_temporal", "spatio_temporal", "token", []),
    ("model2_factorised_encoder", "factorised_encoder", "token", []),
    ("model3_factorised_self_attention", "factorised_self_attention", "gap", []),
    # Model 4 has Model 1's parameters (no CLS): the user names it (the reader's note says so).
    ("model4_factorised_dot_product", "spatio_temporal", "gap",
     ["model.model_type=factorised_dot_product"]),
]


@pytest.mark.parametrize("name,model_type,classifier,overrides", SCENIC_CASES)
def test_scenic_logit_parity(name, model_type, classifier, overrides):
    expected = np.load(SCENIC / "expected.npz")
    rel = released.read(str(SCENIC / f"{name}.msgpack"))
    assert rel.format == "scenic"
    m, ds = rel.config["model"], rel.config["dataset"]
    assert (m["model_type"], m["classifier"]) == (model_type, classifier)
    assert (m["hidden_size"], m["num_heads"], m["mlp_dim"], m["variant"]) == (16, 4, 32, "B/8x2")
    assert m["approximate_gelu"] is True  # Scenic's nn.gelu.
    assert (ds["num_frames"], ds["image_size"], ds["num_classes"]) == (32, 32, 5)
    assert (ds["normalization"], ds["test_clips"], ds["test_crops"], ds["stride"]) == (
        "minus_one_to_one", 4, 3, 2)
    if model_type == "factorised_encoder":
        assert (m["num_layers"], m["temporal_layers"]) == (2, 1)  # Counted, not assumed.
    if model_type == "factorised_self_attention":
        assert m["attention_order"] == "time_space"  # Scenic's default.
    assert all("training state" in i for i in rel.ignored)  # Optimizer moments, rng.
    _, model = released.load_model(rel, overrides)
    logits, _ = model(clip(expected))
    np.testing.assert_allclose(np.asarray(logits), expected[name], atol=TOL, rtol=0)


def test_scenic_model4_head_order_matters():
    """Scenic's Model 4 gives the first half of the heads to time; the other order misses."""
    expected = np.load(SCENIC / "expected.npz")
    rel = released.read(str(SCENIC / "model4_factorised_dot_product.msgpack"))
    assert any("factorised_dot_product" in n for n in rel.notes)
    _, model = released.load_model(rel, ["model.model_type=factorised_dot_product",
                                         "model.attention_order=space_time"])
    logits, _ = model(clip(expected))
    assert np.abs(np.asarray(logits) - expected["model4_factorised_dot_product"]).max() > 1e-2


def _restore(path):
    return serialization.msgpack_restore(pathlib.Path(path).read_bytes())


def test_scenic_wrong_shape_names_tensor_and_shapes(tmp_path):
    state = _restore(SCENIC / "model1_spatio_temporal.msgpack")
    block = state["optimizer"]["target"]["Transformer"]["encoderblock_1"]
    block["MlpBlock_0"]["Dense_0"]["kernel"] = np.ones((16, 31), np.float32)
    path = tmp_path / "checkpoint"
    path.write_bytes(serialization.msgpack_serialize(state))
    with pytest.raises(ReleasedError) as e:
        released.read(str(path))
    msg = str(e.value)
    assert "optimizer/target/Transformer/encoderblock_1/MlpBlock_0/Dense_0/kernel" in msg
    assert "(16, 32)" in msg and "(16, 31)" in msg and str(path) in msg


def test_scenic_truncated_file_is_one_error_naming_it(tmp_path):
    data = (SCENIC / "model2_factorised_encoder.msgpack").read_bytes()
    path = tmp_path / "checkpoint"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReleasedError) as e:
        released.read(str(path))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_scenic_pre_logits_refused(tmp_path):
    state = _restore(SCENIC / "model2_factorised_encoder.msgpack")
    state["params"]["pre_logits"] = {"kernel": np.ones((16, 16), np.float32),
                                     "bias": np.ones(16, np.float32)}
    path = tmp_path / "checkpoint"
    path.write_bytes(serialization.msgpack_serialize(state))
    with pytest.raises(ReleasedError, match="pre_logits"):
        released.read(str(path))


# ---------------------------------------------------------------------------------------
# Released sizes (ViT-B shapes, random weights): the layout Scenic's files have.
# ---------------------------------------------------------------------------------------
def _vit_block(rng, d, heads, mlp):
    r = lambda *s: (0.02 * rng.standard_normal(s, dtype=np.float32))  # noqa: E731
    ln = lambda: {"scale": 1 + r(d), "bias": r(d)}  # noqa: E731
    attn = {p: {"kernel": r(d, heads, d // heads), "bias": r(heads, d // heads)}
            for p in ("query", "key", "value")}
    attn["out"] = {"kernel": r(heads, d // heads, d), "bias": r(d)}
    return {"LayerNorm_0": ln(), "MultiHeadDotProductAttention_0": attn, "LayerNorm_1": ln(),
            "MlpBlock_0": {"Dense_0": {"kernel": r(d, mlp), "bias": r(mlp)},
                           "Dense_1": {"kernel": r(mlp, d), "bias": r(d)}}}


def _encoder(rng, depth, tokens, d=768, heads=12, mlp=3072):
    block = _vit_block(rng, d, heads, mlp)  # One block's arrays in every layer: less memory.
    enc = {f"encoderblock_{i}": block for i in range(depth)}
    enc["posembed_input"] = {"pos_embedding": rng.standard_normal((1, tokens, d), np.float32)}
    enc["encoder_norm"] = {"scale": np.ones(d, np.float32), "bias": np.zeros(d, np.float32)}
    return enc


def _vit_b_checkpoint(path, *, factorised: bool, classes: int):
    """Scenic's ViViT-B/16x2 (32×224²) train state with random weights."""
    rng = np.random.default_rng(0)
    params = {"embedding": {"kernel": rng.standard_normal((2, 16, 16, 3, 768), np.float32),
                            "bias": np.zeros(768, np.float32)},
              "output_projection": {"kernel": rng.standard_normal((768, classes), np.float32),
                                    "bias": np.zeros(classes, np.float32)}}
    if factorised:
        params.update(SpatialTransformer=_encoder(rng, 12, 1 + 14 * 14),
                      TemporalTransformer=_encoder(rng, 4, 1 + 16),
                      cls_SpatialTransformer=np.zeros((1, 1, 768), np.float32),
                      cls_TemporalTransformer=np.zeros((1, 1, 768), np.float32))
        state = {"params": params, "opt_state": {}, "global_step": 1, "rng": np.zeros(2)}
    else:
        params.update(Transformer=_encoder(rng, 12, 1 + 16 * 14 * 14),
                      cls=np.zeros((1, 1, 768), np.float32))
        state = {"optimizer": {"target": params, "state": {"step": 1}}, "global_step": 1}
    path.write_bytes(serialization.msgpack_serialize(state))
    return params


def test_scenic_vit_b_model1_converts_to_a_workdir(tmp_path):
    path, out = tmp_path / "checkpoint", tmp_path / "workdir"
    params = _vit_b_checkpoint(path, factorised=False, classes=400)
    record = released.convert(str(path), str(out), log=lambda s: None)
    assert record["format"] == "scenic" and record["fresh"] == []
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["variant"] == "B/16x2" and cfg["model"]["model_type"] == "spatio_temporal"
    assert (cfg["dataset"]["num_frames"], cfg["dataset"]["image_size"],
            cfg["dataset"]["min_resize"], cfg["dataset"]["num_classes"]) == (32, 224, 256, 400)
    assert (cfg["dataset"]["test_clips"], cfg["dataset"]["test_crops"]) == (4, 3)
    assert (out / "checkpoints" / "0").is_dir() and (out / "convert.json").is_file()
    from vivit_jax import checkpoint as ckpt_lib
    saved = ckpt_lib.restore_params(out)
    np.testing.assert_array_equal(saved["embedding"]["conv"]["kernel"],
                                  params["embedding"]["kernel"])


def test_scenic_vit_b_factorised_encoder_epic_kitchens_layout(tmp_path):
    """ViViT-B FE (12 spatial + 4 temporal layers), 397 Epic-Kitchens classes: every tensor
    has our Model 2's shape (abstract model: no initialisation)."""
    path = tmp_path / "checkpoint"
    _vit_b_checkpoint(path, factorised=True, classes=397)
    rel = released.read(str(path))
    m, ds = rel.config["model"], rel.config["dataset"]
    assert (m["model_type"], m["variant"], m["temporal_layers"]) == (
        "factorised_encoder", "B/16x2", 4)
    assert (ds["num_frames"], ds["image_size"], ds["stride"], ds["test_crops"]) == (
        32, 224, 1, 1)
    assert any("Epic-Kitchens" in n for n in rel.notes)
    cfg = released.make_config(rel)
    model = nnx.eval_shape(lambda: state_lib.create_model(cfg, nnx.Rngs(0)))
    ours = transfer.flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in rel.params.items()}


def test_scenic_image_vit_is_refused(tmp_path):
    """A Scenic image ViT (2D patches, one frame of tokens) is not taken for a video model."""
    rng = np.random.default_rng(0)
    params = {"embedding": {"kernel": np.ones((16, 16, 3, 8), np.float32),
                            "bias": np.zeros(8, np.float32)},
              "cls": np.zeros((1, 1, 8), np.float32),
              "Transformer": _encoder(rng, 1, 1 + 14 * 14, d=8, heads=2, mlp=16),
              "output_projection": {"kernel": np.zeros((8, 3), np.float32),
                                    "bias": np.zeros(3, np.float32)}}
    path = tmp_path / "checkpoint"
    path.write_bytes(serialization.msgpack_serialize({"params": params}))
    with pytest.raises(ReleasedError, match="image ViT"):
        released.read(str(path))


# ---------------------------------------------------------------------------------------
# Hugging Face ViViT.
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("act,approximate", [("gelu_fast", True), ("gelu", False)])
def test_hf_logit_parity(act, approximate):
    expected = np.load(HF / "expected.npz")
    rel = released.read(str(HF / act / "model.safetensors"))
    assert rel.format == "hf_vivit"
    assert rel.label_names == ["abseiling", "air drumming", "answering questions"]
    m, ds = rel.config["model"], rel.config["dataset"]
    assert m["approximate_gelu"] is approximate
    assert (m["model_type"], m["classifier"], m["num_layers"], m["hidden_size"]) == (
        "spatio_temporal", "token", 2, 32)
    assert (ds["num_frames"], ds["image_size"], ds["normalization"]) == (4, 32,
                                                                         "minus_one_to_one")
    _, model = released.load_model(rel)
    # HF feeds [B, T, C, H, W]; make_fixtures.py permuted the same [B, T, H, W, C] clip.
    logits, out = model(clip(expected))
    np.testing.assert_allclose(np.asarray(logits), expected[act], atol=TOL, rtol=0)
    np.testing.assert_allclose(np.asarray(out["pre_logits"]), expected[f"{act}_cls"],
                               atol=TOL, rtol=0)


# transformers-5 module names (what a state_dict of today's classes holds).
_NEW_NAMES = [("encoder.layer.", "layers."), ("attention.attention.query", "attention.q_proj"),
              ("attention.attention.key", "attention.k_proj"),
              ("attention.attention.value", "attention.v_proj"),
              ("attention.output.dense", "attention.o_proj"),
              ("intermediate.dense", "mlp.fc1"), ("output.dense", "mlp.fc2")]


def test_hf_bare_vivit_model_new_names_no_prefix(tmp_path):
    """A VivitModel (no `vivit.` prefix, no classifier, a pooler) in transformers-5 names."""
    expected = np.load(HF / "expected.npz")
    tensors = {}
    for k, v in load_file(str(HF / "gelu_fast" / "model.safetensors")).items():
        if k.startswith("classifier."):
            continue
        k = k[len("vivit."):]
        for a, b in _NEW_NAMES:
            k = k.replace(a, b)
        tensors[k] = v
    tensors["pooler.dense.weight"] = np.ones((32, 32), np.float32)
    tensors["pooler.dense.bias"] = np.ones(32, np.float32)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    shutil.copy(HF / "gelu_fast" / "config.json", tmp_path / "config.json")
    rel = released.read(str(tmp_path / "model.safetensors"))
    assert rel.format == "hf_vivit" and len(rel.ignored) == 2
    assert any("no classifier" in n for n in rel.notes)
    _, model = released.load_model(rel)
    _, out = model(clip(expected))
    np.testing.assert_allclose(np.asarray(out["pre_logits"]), expected["gelu_fast_cls"],
                               atol=TOL, rtol=0)


def test_hf_needs_config_json(tmp_path):
    shutil.copy(HF / "gelu" / "model.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(ReleasedError, match="config.json"):
        released.read(str(tmp_path / "model.safetensors"))


def test_hf_wrong_shape_names_tensor_and_shapes(tmp_path):
    tensors = load_file(str(HF / "gelu" / "model.safetensors"))
    name = "vivit.encoder.layer.1.attention.attention.query.weight"
    tensors[name] = np.ones((32, 31), np.float32)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    shutil.copy(HF / "gelu" / "config.json", tmp_path / "config.json")
    with pytest.raises(ReleasedError) as e:
        released.read(str(tmp_path / "model.safetensors"))
    assert name in str(e.value) and "(32, 32)" in str(e.value) and "(32, 31)" in str(e.value)


@pytest.mark.parametrize("field,value,match", [("layer_norm_eps", 1e-12, "layer_norm_eps"),
                                                ("hidden_act", "quick_gelu", "hidden_act")])
def test_hf_refuses_what_our_model_cannot_compute(tmp_path, field, value, match):
    shutil.copy(HF / "gelu" / "model.safetensors", tmp_path / "model.safetensors")
    cfg = json.loads((HF / "gelu" / "config.json").read_text())
    cfg[field] = value
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ReleasedError, match=match):
        released.read(str(tmp_path / "model.safetensors"))


# ---------------------------------------------------------------------------------------
# A token grid the rows alone do not tell: read as the grid the user gives.
# ---------------------------------------------------------------------------------------
GIVEN_GRID = ["dataset.num_frames=8", "dataset.image_size=24"]


def test_scenic_ambiguous_grid_read_as_the_given_grid(tmp_path):
    """Scenic's Model 1 fixture with a 37-row position table: 1 + 4×3×3 (8 frames, 24², tubelet
    2×8×8), which the rows alone would guess as 1×6×6 (2 frames, 48²).

    The reference: the fixture's weights in our Model 1 built at 4×3×3 with the 37-row table
    placed verbatim. That is Scenic's forward on this checkpoint: our Model 1 equals Scenic's
    to 1e-4 on the fixture's weights (test_scenic_logit_parity), and the only grid-dependent
    parameter is the position table, which both add row by row to the CLS ⊕ tokens in the same
    time-major (t, h, w) order; so nothing but the grid the rows are read as can differ."""
    state = _restore(SCENIC / "model1_spatio_temporal.msgpack")
    table = np.random.default_rng(0).standard_normal((1, 37, 16)).astype(np.float32)
    state["optimizer"]["target"]["Transformer"]["posembed_input"]["pos_embedding"] = table
    path = tmp_path / "checkpoint"
    path.write_bytes(serialization.msgpack_serialize(state))
    video = clip(np.load(SCENIC / "expected.npz"))[:, :8, :24, :24]

    fixture_cfg, fixture = released.load_model(released.read(str(SCENIC /
                                                                 "model1_spatio_temporal.msgpack")))
    params = nnx.to_pure_dict(nnx.state(fixture, nnx.Param))
    params["Transformer"]["posembed_input"]["pos_embedding"] = table
    cfg = released.make_config(released.read(str(SCENIC / "model1_spatio_temporal.msgpack")),
                               GIVEN_GRID)
    graphdef, pstate, rest = nnx.split(transfer.abstract_model(cfg), nnx.Param, ...)
    nnx.replace_by_pure_dict(pstate, params)
    want = np.asarray(nnx.merge(graphdef, pstate, rest)(video)[0])

    rel = released.read(str(path))
    assert rel.guessed_grid.grid == (1, 6)  # The rows alone: 2 frames, 48².
    got_cfg, model = released.load_model(rel, GIVEN_GRID)
    assert (got_cfg.dataset.num_frames, got_cfg.dataset.image_size) == (8, 24)
    np.testing.assert_allclose(np.asarray(model(video)[0]), want, atol=TOL, rtol=0)
    # Resampling the guess to the given grid instead misses the reference.
    _, guessed = released.load_model(dataclasses.replace(rel, guessed_grid=None), GIVEN_GRID)
    assert np.abs(np.asarray(guessed(video)[0]) - want).max() > 1e-2

    # The note says which happened; the converter's workdir holds the table as it was.
    lines = []
    record = released.convert(str(path), str(tmp_path / "out"), overrides=GIVEN_GRID,
                              log=lines.append)
    assert any("read as 4×3×3" in line and "no resampling" in line for line in lines), lines
    assert not any("pos_embedding" in a for a in record["adapted"])
    note = released.fit_grid(rel, ["dataset.num_frames=16", "dataset.image_size=24"]).notes[-1]
    assert "read as 4×3×3 (8 frames, 24² crop: the given 24² crop); resampled to 8×3×3" in note
    note = released.fit_grid(rel, ["dataset.num_frames=8"]).notes[-1]
    assert "read as 4×3×3 (8 frames, 24² crop: the given 8 frames), as given" in note
    note = released.fit_grid(rel).notes[-1]
    assert "read as 1×6×6 (2 frames, 48² crop" in note and "--config.dataset.num_frames" in note
