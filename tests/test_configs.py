"""Every shipped config loads, documents its own run command and builds its model; the shared
recipe arithmetic is right."""
import importlib.util
import pathlib

import pytest

from vivit_jax import config as config_lib
from vivit_jax import recipes
from vivit_jax.evaluate import profile

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").rglob("*.py"))


def test_there_is_a_config_per_family():
    families = {config_lib.load(str(REPO / c)).model.family for c in CONFIGS}
    assert families == {"vivit", "timesformer", "vidtr", "stat"}


@pytest.mark.parametrize("rel", CONFIGS)
def test_config_loads_documents_its_command_and_builds(rel):
    spec = importlib.util.spec_from_file_location("cfg", REPO / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert f"--config {rel}" in module.__doc__  # The command that runs it.
    cfg = config_lib.load(str(REPO / rel))
    model = profile.abstract_model(cfg)  # Shapes only.
    assert profile.count_params(cfg, model) > 0
    with pytest.raises(ValueError, match="unknown config arg 'nope'"):
        module.get_config("nope")


def test_epoch_schedule_arithmetic():
    c = config_lib.defaults()
    recipes.epoch_schedule(c, train_size=1000, epochs=3, batch_size=64,
                           optim=recipes.scenic_sgd(lr=0.1), warmup_epochs=2.5,
                           eval_every_epochs=2)
    # 1000 // 64 = 15 steps per epoch.
    assert (c.num_train_steps, c.optim.warmup_steps, c.eval_every_steps) == (45, 37, 30)
    assert c.optim.name == "sgd" and c.optim.lr == 0.1 and c.optim.grad_clip_norm == 1.0
    assert recipes.timesformer_sgd(nesterov=True)["nesterov"] is True
    assert "nesterov" not in recipes.timesformer_sgd()


def test_synthetic_tiny_runlocal_shrinks():
    full = recipes.synthetic_tiny(dict(family="vivit", num_layers=4), None)
    small = recipes.synthetic_tiny(dict(family="vivit", num_layers=4), "runlocal",
                                   runlocal_model=dict(num_layers=1))
    assert (full.num_train_steps, small.num_train_steps) == (3000, 20)
    assert (full.model.num_layers, small.model.num_layers) == (4, 1)
    assert small.dataset.synthetic.train_size == 64


def test_runlocal_shrinks_the_recipe_not_its_shape():
    # STAT's T argument combines with runlocal; the sizes of train_pp scale to 32².
    assert recipes.runlocal_split("32,runlocal") == ("32", "runlocal")
    assert recipes.runlocal_split("runlocal") == (None, "runlocal")
    assert recipes.runlocal_split("64") == ("64", None)
    assert recipes.shrink_pp("scale_jitter(259, 383)|random_crop(256)|randaug(2, 10)|flip",
                             32 / 256) == "scale_jitter(32, 48)|random_crop(32)|randaug(2, 10)|flip"
    assert recipes.shrink_pp("random_resized_crop(224, scale=(0.5, 1.0))", 1 / 7) == \
        "random_resized_crop(32, scale=(0.5, 1.0))"
    stat = config_lib.load(str(REPO / "configs/kinetics400/stat_b_k400.py:64,runlocal"))
    assert (stat.model.family, stat.dataset.sampling, stat.dataset.test_clips,
            stat.dataset.test_crops, stat.dataset.num_frames) == ("stat", "tsn", 3, 3, 8)
    mit = config_lib.load(str(REPO / "configs/moments_in_time/vivit_l16x2_st_32x1x1_mit.py"))
    assert (mit.model.variant, mit.model.model_type, mit.dataset.num_classes,
            mit.dataset.stride) == ("L/16x2", "spatio_temporal", 339, 1)
