"""`vivit-profile`: ViViT Table 2 reproduced by our real models; exact counts; the CLI."""
import json
import pathlib

import jax
import pytest
from flax import nnx

from vivit_jax import config as config_lib
from vivit_jax.evaluate import profile
from vivit_jax.models import build_model

K400 = pathlib.Path(__file__).resolve().parents[2] / "configs" / "kinetics400"
TINY = str(pathlib.Path(__file__).resolve().parents[2] / "configs/synthetic/vivit_fdp_tiny.py")

# ViViT paper Table 2 (ViViT-B, tubelet 16×2, 32 frames, 224²): GFLOPs (multiply-adds), params.
TABLE_2 = [
    ("vivit_b16x2_st_32x2x1_k400.py", 455.2, 88.9),
    ("vivit_b16x2_fe2_32x2x1_k400.py", 284.4, 100.7),
    ("vivit_b16x2_fsa_32x2x1_k400.py", 372.3, 117.3),
    ("vivit_b16x2_fdp_32x2x1_k400.py", 277.1, 88.9),
]


@pytest.mark.parametrize("name, gmacs, mparams", TABLE_2)
def test_table2_is_reproduced_within_one_percent(name, gmacs, mparams):
    cfg = config_lib.load(str(K400 / name))
    model = profile.abstract_model(cfg)  # Shapes only: ViViT-B is never allocated.
    got_gmacs, got_params = profile.forward_gmacs(cfg, model), profile.count_params(cfg, model)
    assert got_gmacs == pytest.approx(gmacs, rel=0.01)
    assert got_params / 1e6 == pytest.approx(mparams, rel=0.01)


def test_average_pool_baseline_and_vivit_l():
    # Table 2's "Model 2: Ave. pool baseline" (283.9 GFLOPs, 86.7 M) and Table 5's
    # ViViT-L/16x2 spatio-temporal model at 224² (1446 GFLOPs).
    base = config_lib.load(str(K400 / "vivit_b16x2_fe2_32x2x1_k400.py"),
                           ["--config.model.temporal_layers=0"])
    assert profile.forward_gmacs(base) == pytest.approx(283.9, rel=0.01)
    assert profile.count_params(base) / 1e6 == pytest.approx(86.7, rel=0.01)
    large = config_lib.load(str(K400 / "vivit_b16x2_st_32x2x1_k400.py"),
                            ["--config.model.variant=L/16x2"])
    assert profile.forward_gmacs(large) == pytest.approx(1446, rel=0.01)


def test_param_count_is_exact():
    cfg = config_lib.load(TINY, ["--config.model.model_type=spatio_temporal",
                                 "--config.model.classifier=token",
                                 "--config.model.variant=Ti/8x2"])
    d, mlp, layers, classes = 96, 192, 4, 8
    tokens = 4 * 4 * 4  # 8 frames × 32² in 2×8×8 tubelets.
    block = 2 * 2 * d + 4 * (d * d + d) + (d * mlp + mlp) + (mlp * d + d)
    expected = ((2 * 8 * 8 * 3 * d + d) + d + (1 + tokens) * d + layers * block + 2 * d
                + (d * classes + classes))
    assert profile.count_params(cfg) == expected
    real = build_model(cfg.model, num_classes=classes, input_shape=(8, 32, 32),
                       rngs=nnx.Rngs(0))
    assert sum(x.size for x in jax.tree.leaves(nnx.state(real, nnx.Param))) == expected


def test_cli_json_and_text(capsys):
    assert profile.main(["--config", TINY, "--json", "--config.model.num_layers=2"]) == 0
    r = json.loads(capsys.readouterr().out)
    cfg = config_lib.load(TINY, ["--config.model.num_layers=2"])
    assert r["params"] == profile.count_params(cfg) < profile.count_params(config_lib.load(TINY))
    assert r["input_shape"] == [1, 8, 32, 32, 3] and r["family"] == "vivit"
    assert r["model_type"] == "factorised_dot_product" and r["gmacs"] == r["flops"] / 2e9 > 0
    assert profile.main(["--config", TINY]) == 0
    text = capsys.readouterr().out
    assert "factorised_dot_product" in text and "GMACs" in text and "[1, 8, 32, 32, 3]" in text


@pytest.mark.parametrize("args, code, needle", [
    (["--config.model.num_layer=2"], 2, "unknown config key 'model.num_layer'"),
    (["--config.model.num_heads=5"], 1, "model.num_heads=5"),
    (["--config.dtype=float16"], 1, "config.dtype='float16'"),
])
def test_cli_bad_config_is_one_line(capsys, args, code, needle):
    assert profile.main(["--config", TINY, *args]) == code
    err = capsys.readouterr().err
    assert err.startswith("vivit-profile: error: ") and needle in err
    assert err.count("\n") == 1


def test_other_families():
    """TimeSformer divided: the exact parameter count by hand, and GMACs within 8 % above its
    matmuls counted by hand (XLA adds softmax, LayerNorm, GELU and biases: a few percent)."""
    path = K400.parent / "synthetic" / "timesformer_divided_tiny.py"
    r = profile.profile(config_lib.load(str(path)))
    assert r["family"] == "timesformer"
    d, mlp, layers, classes, patch = 96, 192, 4, 8, 4 * 8 * 8 * 3  # 4×8×8 tubelets.
    t, s = 2, 4 * 4  # 8 frames × 32²: 2 temporal indices × 4×4 patches, plus one CLS.
    attn, ln = 4 * (d * d + d), 2 * d
    block = (2 * ln + attn + (d * mlp + mlp) + (mlp * d + d)  # The ViT block (spatial part).
             + ln + attn + (d * d + d))  # temporal_norm, temporal_attn, temporal_fc.
    assert r["params"] == ((patch * d + d) + d + t * d + (1 + s) * d  # Embedding, CLS, time,
                           + layers * block + ln + (d * classes + classes))  # pos; head.
    n = t * s
    temporal = 3 * n * d * d + 2 * n * t * d + 2 * n * d * d  # q/k/v, QKᵀ + AV over T, out+fc.
    spatial = t * (4 * (1 + s) * d * d + 2 * (1 + s) ** 2 * d)  # Per frame: CLS ⊕ s tokens.
    macs = n * patch * d + layers * (temporal + spatial + 2 * (1 + n) * d * mlp) + d * classes
    assert macs / 1e9 <= r["gmacs"] <= 1.08 * macs / 1e9, (r["gmacs"], macs / 1e9)


def test_table5_320_config_and_the_epic_kitchens_head():
    """Table 5's ViViT-L/16x2 at 320² (3992 GFLOPs) is what its config builds; the EK config's
    one 397-way head (nouns + verbs) over ViViT-B FE costs Table 2's Model 2 figure."""
    root = K400.parent
    l320 = config_lib.load(str(K400 / "vivit_l16x2_st_32x2x1_320_k400.py"))
    assert profile.forward_gmacs(l320) == pytest.approx(3992, rel=0.01)
    ek = config_lib.load(str(root / "epic_kitchens" / "vivit_b16x2_fe_32x1x1_ek.py"))
    assert (ek.dataset.num_classes, ek.dataset.label_sets) == (397, "noun:300,verb:97")
    assert profile.forward_gmacs(ek) == pytest.approx(284.4, rel=0.01)
