"""Mesh construction and logical-axis rules."""
import jax
import pytest
from jax.sharding import PartitionSpec as P

from vivit_jax import sharding

RULES = (("embed", "fsdp"), ("mlp", "model"), ("heads", "model"), ("kv", None))


def test_mesh_sizes():
    m = sharding.make_mesh((("data", -1), ("fsdp", 2), ("model", 1)))
    assert dict(m.shape) == {"data": jax.device_count() // 2, "fsdp": 2, "model": 1}
    with pytest.raises(ValueError, match="needs 6 devices"):
        sharding.make_mesh((("data", 3), ("fsdp", 2), ("model", 1)))
    with pytest.raises(ValueError, match="must be exactly"):
        sharding.make_mesh((("data", -1), ("model", 1)))


def test_logical_to_spec():
    m = sharding.make_mesh((("data", 2), ("fsdp", 2), ("model", 2)))
    assert sharding.logical_to_spec(("embed", "mlp"), (8, 16), RULES, m) == P("fsdp", "model")
    # 3 heads do not divide over model=2: that dimension stays replicated.
    assert sharding.logical_to_spec(("embed", "heads", "kv"), (8, 3, 4), RULES, m) == \
        P("fsdp", None, None)
    # A mesh axis is used once per array.
    assert sharding.logical_to_spec(("mlp", "heads"), (4, 4), RULES, m) == P("model", None)
    m1 = sharding.make_mesh((("data", -1), ("fsdp", 1), ("model", 1)))
    assert sharding.logical_to_spec(("embed", "mlp"), (8, 16), RULES, m1) == P(None, None)
