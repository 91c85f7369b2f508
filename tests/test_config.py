"""Config loading: defaults merge, overrides with types, refusal of unknown keys."""
import pytest

from vivit_jax import config as config_lib

TINY = "configs/synthetic/vivit_tiny.py"


def test_load_merges_defaults_and_file(repo):
    cfg = config_lib.load(str(repo / TINY))
    assert cfg.model.hidden_size == 96  # From the file.
    assert cfg.optim.b2 == 0.999  # From the defaults.
    assert cfg.dataset.name == "synthetic_motion"


def test_overrides_are_typed(repo):
    cfg = config_lib.load(str(repo / TINY), ["--config.batch_size=8", "--config.optim.lr=1",
                                             "--config.model.remat=true",
                                             "--config.optim.no_decay=('bias$',)"])
    assert cfg.batch_size == 8
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.model.remat is True
    assert cfg.optim.no_decay == ("bias$",)


@pytest.mark.parametrize("override, needle", [
    ("--config.batch_sise=8", "unknown config key 'batch_sise' (did you mean 'batch_size'?)"),
    ("--config.optim.lrr=0.1", "unknown config key 'optim.lrr' (did you mean 'lr'?)"),
    ("--config.batch_size=eight", "--config.batch_size='eight': expected int"),
    ("--config.batch_size=1.5", "expects int"),
    ("--config.model.remat=maybe", "expected a bool"),
    ("--config.optim=3", "is a section"),
])
def test_bad_overrides_are_refused(repo, override, needle):
    with pytest.raises(config_lib.ConfigError) as e:
        config_lib.load(str(repo / TINY), [override])
    assert needle in str(e.value)


def test_family_switch_by_override(repo, capsys):
    """`--config.model.family=timesformer` on a ViViT config builds a TimeSformer: its
    defaults, the shared fields of the file (sizes, classifier), ViViT-only ones dropped
    with a note; an override of a field the new family has applies after the switch."""
    cfg = config_lib.load(str(repo / TINY), ["--config.model.family=timesformer",
                                             "--config.model.attention_type=joint_space_time"])
    assert cfg.model.family == "timesformer"
    assert cfg.model.attention_type == "joint_space_time"
    assert (cfg.model.hidden_size, cfg.model.num_layers, cfg.model.classifier) == (96, 4, "token")
    assert "model_type" not in cfg.model and capsys.readouterr().err == ""
    # A file with ViViT-only fields: they are dropped, and a note names them.
    fe = config_lib.load(str(repo / "configs/synthetic/vivit_fe_tiny.py"),
                         ["--config.model.family=timesformer"])
    assert fe.model.family == "timesformer" and "temporal_layers" not in fe.model
    err = capsys.readouterr().err
    assert "model.family='timesformer' replaces 'vivit'" in err and "'model_type'" in err
    # The same family: nothing switches, nothing is said.
    same = config_lib.load(str(repo / TINY), ["--config.model.family=vivit"])
    assert same.model.model_type == "spatio_temporal" and capsys.readouterr().err == ""
    with pytest.raises(config_lib.ConfigError, match="model.family='vivt'"):
        config_lib.load(str(repo / TINY), ["--config.model.family=vivt"])
    # A ViViT-only field overridden after a switch is refused, naming it.
    with pytest.raises(config_lib.ConfigError, match="unknown config key 'model.model_type'"):
        config_lib.load(str(repo / TINY), ["--config.model.family=timesformer",
                                           "--config.model.model_type=factorised_encoder"])


def test_unknown_key_in_file_is_refused(tmp_path):
    f = tmp_path / "typo.py"
    f.write_text("import ml_collections\n"
                 "def get_config(arg=None):\n"
                 "    c = ml_collections.ConfigDict()\n"
                 "    c.datset = ml_collections.ConfigDict(dict(name='dmvr'))\n"
                 "    return c\n")
    with pytest.raises(config_lib.ConfigError, match=r"unknown config key 'datset' "
                                                     r"\(did you mean 'dataset'\?\)"):
        config_lib.load(str(f))


def test_wrong_type_in_file_is_refused(tmp_path):
    f = tmp_path / "badtype.py"
    f.write_text("import ml_collections\n"
                 "def get_config(arg=None):\n"
                 "    return ml_collections.ConfigDict(dict(num_train_steps='100'))\n")
    with pytest.raises(config_lib.ConfigError, match="'num_train_steps' expects int"):
        config_lib.load(str(f))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(config_lib.ConfigError, match="nope.py' does not exist"):
        config_lib.load(str(tmp_path / "nope.py"))


def test_config_arg(repo):
    cfg = config_lib.load(str(repo / TINY) + ":runlocal")
    assert cfg.num_train_steps == 20 and cfg.dataset.synthetic.train_size == 64
    # Fields of the section the file did not set keep their defaults.
    assert cfg.dataset.synthetic.num_frames == 16


def test_config_is_locked(repo):
    cfg = config_lib.load(str(repo / TINY))
    with pytest.raises(AttributeError):
        cfg.new_field = 1


def test_a_workdirs_config_json_is_a_config_file(repo, tmp_path):
    # vivit-convert --checkpoint writes a workdir whose config.json fine-tunes as is.
    cfg = config_lib.load(str(repo / TINY), ["--config.optim.no_decay=('bias$',)"])
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json_best_effort(indent=2))
    again = config_lib.load(str(path), ["--config.batch_size=8"])
    assert again.batch_size == 8 and again.optim.no_decay == ("bias$",)
    assert again.mesh == cfg.mesh and isinstance(again.mesh[0], tuple)
    again.unlock()
    again.batch_size = cfg.batch_size
    assert again.to_dict() == cfg.to_dict()
    path.write_text("{not json")
    with pytest.raises(config_lib.ConfigError, match="config.json' is not valid JSON"):
        config_lib.load(str(path))
