"""DMVR shard names and the label map: plain files, no TensorFlow (`vivit-prepare` decides
what to do before it imports TensorFlow). Also importable from `dmvr_format`."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence

from vivit_jax import fileio

LABEL_MAP_FILE = "label_map.json"


def shard_name(split: str, index: int, num_shards: int) -> str:
    """DMVR shard file name, e.g. `train-00000-of-00004`."""
    return f"{split}-{index:05d}-of-{num_shards:05d}"


def write_label_map(data_dir: str | os.PathLike, labels: Sequence[str]) -> pathlib.Path | str:
    """Writes `label_map.json` = `{"labels": [...]}`; label index i <-> labels[i]. Returns
    its path (a `pathlib.Path`; the URL string in a remote `data_dir`).

    The order is kept as given (the synthetic set uses its class order); tools that build a
    map from label names (e.g. CSVs) should pass `sorted(set(names))`.
    """
    labels = [str(x) for x in labels]
    if len(set(labels)) != len(labels):
        raise ValueError(f"label map has duplicate labels: {labels}")
    path = fileio.join(data_dir, LABEL_MAP_FILE)
    fileio.makedirs(data_dir)
    fileio.write_atomic(path, json.dumps({"labels": labels}, indent=1) + "\n")
    return fileio.native(path)


def read_label_map(data_dir: str | os.PathLike) -> list[str]:
    """Reads `label_map.json` beside the shards (a `{"labels": [...]}` object or a plain list)."""
    path = fileio.join(data_dir, LABEL_MAP_FILE)
    if not fileio.isfile(path):
        raise FileNotFoundError(f"label map {path} does not exist")
    try:
        data = json.loads(fileio.read_text(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"label map {path} is not valid JSON: {e}") from e
    labels = data.get("labels") if isinstance(data, dict) else data
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f'label map {path} must be {{"labels": [str, ...]}} or a list of strings')
    return labels
