"""Device prefetch: the host batches in order as global arrays, errors where they were due."""
import jax
import numpy as np
import pytest

from vivit_jax import sharding
from vivit_jax.data import prefetch


def _sharding():
    mesh = sharding.make_mesh((("data", 2), ("fsdp", 1), ("model", 1)), jax.devices()[:2])
    return sharding.batch_sharding(mesh)


def _batches(n, fail_at=None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"damaged shard at batch {i}")
        yield {"video": np.full((4, 2, 3, 3, 3), i, np.uint8), "label": np.arange(4) + i}


def test_batches_arrive_in_order_as_sharded_global_arrays():
    sh = _sharding()
    got = list(prefetch.to_device(_batches(5), sh, depth=2))
    assert len(got) == 5
    for i, b in enumerate(got):
        assert isinstance(b["video"], jax.Array) and b["video"].sharding == sh
        assert b["video"].dtype == np.uint8  # uint8 across: 4× fewer bytes than float32.
        np.testing.assert_array_equal(np.asarray(b["label"]), np.arange(4) + i)
        assert int(np.asarray(b["video"]).max()) == i


def test_an_error_is_raised_after_the_batches_before_it():
    it = prefetch.to_device(_batches(5, fail_at=3), _sharding(), depth=1)
    assert [int(np.asarray(next(it)["label"])[0]) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="damaged shard at batch 3"):
        next(it)
    with pytest.raises(ValueError, match="depth=0"):
        next(prefetch.to_device(_batches(1), _sharding(), depth=0))
