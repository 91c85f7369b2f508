"""`checkpoint.resolve` and `checkpoint.restore_params`: every path shape a command accepts
(a workdir, its `checkpoints/`, a step directory, the Orbax item, a vivit-convert output, any
of their `config.json`), one error line naming the path, and the parameters as host numpy or
sharded on the current mesh.
"""
import json
import os

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from vivit_jax import checkpoint as ckpt_lib

PARAMS = {"Transformer": {"encoder_norm": {"scale": np.arange(4, dtype=np.float32)}},
          "head": {"kernel": np.arange(8, dtype=np.float32).reshape(4, 2)}}


def _state(scale: float):
    return {"params": jax.tree.map(lambda a: a * scale, PARAMS),
            "opt": {"mu": np.ones(3, np.float32)}, "step": np.int32(0)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A workdir with steps 2 and 4 (params × step) and config.json; a vivit-convert output."""
    root = tmp_path_factory.mktemp("ckpt")
    wd = root / "wd"
    ckpt = ckpt_lib.Checkpointer(wd, every_steps=1, keep=5, async_save=False)
    for step in (2, 4):
        ckpt.save(step, _state(step), force=True)
    ckpt.close()
    (wd / "config.json").write_text(json.dumps({"run": "wd"}))
    conv = root / "conv"
    ckpt_lib.save_params(str(conv / "params"), PARAMS)
    (conv / "config.json").write_text(json.dumps({"run": "conv"}))
    return wd, conv


@pytest.mark.parametrize("shape,want", [
    ("wd", 4), ("wd/", 4), ("wd/config.json", 4), ("wd/checkpoints", 4),
    ("wd/checkpoints/2", 2), ("wd/checkpoints/2/default", 2), ("conv", None),
    ("conv/config.json", None), ("conv/params", None)])
def test_every_path_shape_resolves(run, shape, want):
    wd, conv = run
    root = wd.parent
    found = ckpt_lib.resolve(str(root / shape))
    assert found.step == want
    if want is None:
        assert found.item == conv / "params" and found.step_dir == conv / "params"
        assert found.workdir == str(conv) and found.config == str(conv / "config.json")
    else:
        assert found.item == wd / "checkpoints" / str(want) / "default"
        assert found.step_dir == wd / "checkpoints" / str(want)
        assert found.workdir == str(wd) and found.config == str(wd / "config.json")
    assert ckpt_lib.resolve(found) is found


def test_step_numbers_of_a_workdir_and_relative_paths(run, monkeypatch):
    wd, _ = run
    assert ckpt_lib.resolve(None, wd).step == 4
    assert ckpt_lib.resolve("2", str(wd)).item == wd / "checkpoints" / "2" / "default"
    monkeypatch.chdir(wd.parent)
    found = ckpt_lib.resolve("wd/checkpoints/2")  # Orbax reads absolute paths only.
    assert found.item == wd / "checkpoints" / "2" / "default" and found.item.is_absolute()


def test_errors_name_the_path(run, tmp_path):
    wd, _ = run
    cases = [
        (lambda: ckpt_lib.resolve(None, None),
         "no checkpoint given: pass --checkpoint or --workdir"),
        (lambda: ckpt_lib.resolve("3", wd),
         f"checkpoint step 3 not in {wd / 'checkpoints'} (has [2, 4])"),
        (lambda: ckpt_lib.resolve(str(wd / "checkpoints" / "7")),
         f"checkpoint step 7 not in {wd / 'checkpoints'} (has [2, 4])"),
        (lambda: ckpt_lib.resolve(str(tmp_path / "nope")),
         f"no checkpoint in {tmp_path / 'nope'}: it does not exist"),
        (lambda: ckpt_lib.resolve(str(tmp_path)),
         f"no checkpoint in {tmp_path}: not a workdir (checkpoints/), a step directory, "
         f"a vivit-convert output or an Orbax directory"),
        (lambda: ckpt_lib.resolve(None, tmp_path / "empty"),
         f"no checkpoint in {tmp_path / 'empty' / 'checkpoints'}"),
    ]
    for call, message in cases:
        with pytest.raises(FileNotFoundError) as e:
            call()
        assert str(e.value) == message


def test_restore_params_as_host_numpy(run):
    wd, conv = run
    for path, scale in ((wd, 4), (wd / "checkpoints" / "2", 2), (conv, 1)):
        got = ckpt_lib.restore_params(str(path))
        assert set(got) == {"Transformer", "head"}  # The params alone: no optimiser state.
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(PARAMS)):
            assert isinstance(a, np.ndarray)
            np.testing.assert_array_equal(a, b * scale)


def test_restore_params_sharded_and_checked(run):
    wd, conv = run
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("data",))
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), PARAMS)
    shardings = jax.tree.map(lambda _: NamedSharding(mesh, PartitionSpec()), PARAMS)
    shardings["head"]["kernel"] = NamedSharding(mesh, PartitionSpec("data"))
    for path, scale in ((wd, 4), (conv, 1)):
        got = ckpt_lib.restore_params(str(path), abstract, shardings)
        assert got["head"]["kernel"].sharding == shardings["head"]["kernel"]
        np.testing.assert_array_equal(np.asarray(got["head"]["kernel"]),
                                      PARAMS["head"]["kernel"] * scale)
    abstract["head"]["kernel"] = jax.ShapeDtypeStruct((4, 3), np.float32)
    with pytest.raises(ckpt_lib.CheckpointMismatch) as e:
        ckpt_lib.restore_params(str(wd), abstract, shardings)
    assert str(e.value) == (
        f"checkpoint {wd / 'checkpoints' / '4'} does not fit the config: parameter "
        f"'head/kernel' has shape (4, 2) in the checkpoint, (4, 3) in the model")


def test_a_failed_resolve_writes_nothing(run, tmp_path):
    wd, _ = run
    before = sorted(os.path.relpath(os.path.join(d, f), wd)
                    for d, _, fs in os.walk(wd) for f in fs)
    with pytest.raises(FileNotFoundError):
        ckpt_lib.resolve("9", wd)
    assert sorted(os.path.relpath(os.path.join(d, f), wd)
                  for d, _, fs in os.walk(wd) for f in fs) == before
