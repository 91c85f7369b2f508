"""ViT readers: every published layout reads into the same canonical params; bad files refused."""
import numpy as np
import pytest

from tests.convert import vit_fixtures as vf
from vivit_jax.convert import readers


def _write_all(p, tmp_path):
    files = {}
    files["vision_transformer"] = tmp_path / "vt.npz"
    vf.write_vision_transformer(p, files["vision_transformer"])
    files["vision_transformer_opt_target"] = tmp_path / "vt_old.npz"
    vf.write_vision_transformer(p, files["vision_transformer_opt_target"], prefix="opt/target/")
    files["big_vision"] = tmp_path / "bv.npz"
    vf.write_big_vision(p, files["big_vision"])
    files["big_vision_scanned"] = tmp_path / "bv_scan.npz"
    vf.write_big_vision(p, files["big_vision_scanned"], scanned=True)
    files["timm"] = tmp_path / "timm.safetensors"
    vf.write_timm(p, files["timm"])
    files["hugging_face"] = tmp_path / "hf.safetensors"
    vf.write_hugging_face(p, files["hugging_face"])
    return files


def test_all_layouts_read_to_the_same_canonical_params(tmp_path):
    p = vf.make_vit()
    files = _write_all(p, tmp_path)
    for name, path in files.items():
        vit = readers.read_vit(path, num_heads=vf.HEADS)
        assert vit.layout == name.replace("_opt_target", "").replace("_scanned", ""), name
        # big_vision has no CLS position slot: its equivalent folds the slot into `cls`.
        want = vf.big_vision_equivalent(p) if name.startswith("big_vision") else p
        assert sorted(vit.params) == sorted(want), name
        for k in want:
            np.testing.assert_array_equal(vit.params[k], want[k], err_msg=f"{name}: {k}")
        assert (vit.num_heads, vit.num_layers, vit.patch_size, vit.grid, vit.has_cls) == (
            vf.HEADS, vf.DEPTH, (vf.PATCH, vf.PATCH), (2, 2), True)
        assert vit.ignored == []
    # The fold is exact: big_vision's params compute the same pre-logits.
    img = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3))
    bv = readers.read_vit(files["big_vision"]).params
    np.testing.assert_allclose(vf.vit_pre_logits(bv, img), vf.vit_pre_logits(p, img), atol=1e-5)


def test_heads_default_from_width_and_hf_without_prefix(tmp_path):
    p = vf.make_vit()
    vf.write_hugging_face(p, tmp_path / "m.safetensors", prefix="")  # A bare ViTModel.
    vit = readers.read_vit(tmp_path / "m.safetensors", num_heads=vf.HEADS)
    assert vit.layout == "hugging_face" and "head/kernel" not in vit.params
    np.testing.assert_array_equal(
        vit.params["Transformer/encoderblock_1/MultiHeadDotProductAttention_1/key/kernel"],
        p["Transformer/encoderblock_1/MultiHeadDotProductAttention_1/key/kernel"])
    # Width 32 is no standard ViT: the head count must be given.
    with pytest.raises(ValueError, match="number of attention heads"):
        readers.read_vit(tmp_path / "m.safetensors")


def test_unknown_layout_lists_the_top_level_keys(tmp_path):
    np.savez(tmp_path / "x.npz", **{"encoder/layers_0/w": np.zeros(2), "stem/w": np.zeros(2)})
    with pytest.raises(ValueError, match=r"unknown ViT checkpoint layout: top-level keys found "
                                         r"\['encoder', 'stem'\]"):
        readers.read_vit(tmp_path / "x.npz")


def test_pickles_are_refused_with_the_conversion_command(tmp_path):
    path = tmp_path / "vit.pth"
    path.write_bytes(b"not read")
    with pytest.raises(ValueError) as e:
        readers.read_vit(path)
    msg = str(e.value)
    assert "never unpickled" in msg and "from safetensors.torch import save_file" in msg
    assert str(tmp_path / "vit.safetensors") in msg


def test_npz_with_objects_is_not_unpickled(tmp_path):
    np.savez(tmp_path / "o.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        readers.read_vit(tmp_path / "o.npz")


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_truncated_checkpoint_is_one_error_naming_the_file(tmp_path, suffix):
    files = _write_all(vf.make_vit(), tmp_path)
    good = files["vision_transformer" if suffix == ".npz" else "timm"]
    data = good.read_bytes()
    bad = tmp_path / f"truncated{suffix}"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"truncated\{suffix}' is not a readable \{suffix} "
                                         r"checkpoint \((BadZipFile|SafetensorError)"):
        readers.read_vit(bad)
