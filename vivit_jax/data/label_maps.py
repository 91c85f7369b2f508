"""`vivit-prepare`'s label map and each row's label indices, whatever the annotation format.

Three kinds of rows (`annotations.Row`):

- named labels (Kinetics, SSv2, CSVs…): the map is the sorted set of names (or of
  `--labels_file`), a row's indices are its names' positions;
- class indices (mmaction2 / PySlowFast list files, `label_ids`): the map keeps the index
  order — `--labels_file` lines in order, else the indices' own text '0' … 'max';
- label sets (Epic-Kitchens, `label_sets`): the map is the joint head's classes, set after
  set in `--label_sets` order (`noun:<name>` × 300, then `verb:<name>` × 97; a class that
  no row names is `noun:#<id>`); a row's indices are into that joint list (set offset + class
  id), one per set in set order (see vivit_jax/label_sets.py).

No TensorFlow here: `vivit-prepare` reads this before it imports TensorFlow.
"""
from __future__ import annotations

import collections
import pathlib
from collections.abc import Sequence

from vivit_jax import label_sets
from vivit_jax.data import annotations


class UnknownLabel(KeyError):
    """A row's label that the label map does not hold (the label, as text)."""


def kind(rows: Sequence[annotations.Row]) -> str:
    """'sets', 'ids' or 'names': how the rows carry their labels."""
    if any(r.label_sets for r in rows):
        return "sets"
    if any(r.label_ids for r in rows):
        return "ids"
    return "names"


def new_map(rows: Sequence[annotations.Row], labels_file: str, sets) -> list[str]:
    """The label map a first split creates (see the module doc)."""
    names = []
    if labels_file:
        p = pathlib.Path(labels_file)
        names = (annotations.ssv2_label_names(p) if p.suffix == ".json"
                 else [x.strip() for x in p.read_text().splitlines() if x.strip()])
    k = kind(rows)
    if k == "sets":
        return _joint_names(rows, sets)
    if k == "ids":
        return names or [str(i) for i in range(max(i for r in rows for i in r.label_ids) + 1)]
    return sorted(set(names or [lab for r in rows for lab in r.labels]))


def _joint_names(rows, sets) -> list[str]:
    """`set:<text>` per class (its most frequent text in the rows), `set:#<id>` if unseen."""
    seen: dict[tuple[str, int], collections.Counter] = collections.defaultdict(
        collections.Counter)
    for r in rows:
        for name, cid, text in r.label_sets:
            seen[name, cid][text or f"#{cid}"] += 1
    out = []
    for name, size in sets:
        used: set[str] = set()
        for cid in range(size):
            counts = seen.get((name, cid))
            text = (sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if counts
                    else f"#{cid}")
            label = f"{name}:{text}" if text not in used else f"{name}:{text}#{cid}"
            used.add(text)
            out.append(label)
    return out


def check_map(labels: Sequence[str], sets, where: str) -> None:
    """Refuses an existing label map that cannot be the joint head of `sets`."""
    if sets and len(labels) != sum(n for _, n in sets):
        raise ValueError(f"the label map {where} has {len(labels)} labels but the label sets "
                         f"{label_sets.to_string(sets)} need {sum(n for _, n in sets)}")


def encode(row: annotations.Row, labels: Sequence[str], index: dict[str, int], sets
           ) -> tuple[list[int], list[str], list[tuple[str, int, str]]]:
    """(label indices, label texts, per-set (set, class id, text)) of `row`; raises
    `UnknownLabel` naming the first label the map does not hold."""
    if row.label_sets:
        size = dict(sets)
        start = dict(zip([n for n, _ in sets], label_sets.offsets(sets)))
        given = {name: cid for name, cid, _ in row.label_sets}
        for name, cid, _ in row.label_sets:
            if name not in size or not 0 <= cid < size[name]:
                raise UnknownLabel(f"{name}:{cid}")
        missing = [n for n, _ in sets if n not in given]
        if missing:
            raise UnknownLabel(f"{missing[0]} (the row has no {missing[0]} class)")
        idx = [start[n] + given[n] for n, _ in sets]
        texts = [labels[i] for i in idx]
        return idx, texts, [(n, given[n], labels[i].split(":", 1)[-1])
                            for (n, _), i in zip(sets, idx)]
    if row.label_ids:
        bad = [i for i in row.label_ids if not 0 <= i < len(labels)]
        if bad:
            raise UnknownLabel(str(bad[0]))
        return list(row.label_ids), [labels[i] for i in row.label_ids], []
    unknown = [lab for lab in row.labels if lab not in index]
    if unknown:
        raise UnknownLabel(unknown[0])
    return [index[lab] for lab in row.labels], list(row.labels), []
