"""Annotation readers for `vivit-prepare`: one list of `Row`s whatever the source format.

Accepted (`--format auto` picks by file suffix and CSV header):

  simple    CSV of `path,label` rows, with or without that header line (headerless rows
            may carry more columns, ignored: Moments in Time's `path,label,agree,disagree`);
            `label` may hold several labels joined by ';' (multi-label, e.g. Charades-style);
            paths relative to --video_dir.
  dmvr      DMVR's CSV `video_path,start,end[,label][,caption]` (seconds; header required).
  kinetics  The Kinetics CSV `label,youtube_id,time_start,time_end,split` (header; the test
            split's has no `label`: its rows get none); files are the downloaders' trimmed
            clips `{youtube_id}_{start:06d}_{end:06d}.<ext>` (ext mp4/webm/mkv/avi/mov), in
            --video_dir or --video_dir/<label>/; also accepted: `{youtube_id}.<ext>`. Files
            are already trimmed, so no second trim is applied.
  charades  Charades CSV (`id,...,actions,...`), files `{id}.mp4`; labels = the class ids
            of `actions` ("c092 11.90 21.20;c147 0.00 12.60" → c092, c147), multi-label.
  ssv2      Something-Something v2 JSON (`…-train.json` / `…-validation.json`: a list of
            {id, template, …}); label = template with '[' and ']' removed, as the official
            code does; files `{id}.webm`. The test JSON has no template: rows get no label.
  epic_kitchens
            Epic-Kitchens-100 CSV (`narration_id, participant_id, video_id, …,
            start_timestamp, stop_timestamp, …, verb, verb_class, noun, noun_class, …`;
            timestamps HH:MM:SS.ff; the test CSVs stop at `stop_frame`: no labels, and
            their split is `test` unless --split says otherwise). One row
            per action segment of a long video `{video_dir}/P01/videos/P01_01.MP4` (or
            `{video_dir}/P01_01.MP4`), trimmed to [start, stop); two label sets per row,
            noun (`noun_class`) and verb (`verb_class`): see vivit_jax/label_sets.py.
  list      mmaction2 / PySlowFast video list: `path label [label …]` per line,
            whitespace-separated, labels integer class indices (several: multi-label); no
            header. Class names: `--labels_file` (one per line, in index order) or the
            indices themselves.
  rawframes mmaction2 raw-frame list: `dir total_frames label [label …]`; `dir` holds the
            frames as image files (jpg/png, read in name order, the first total_frames).
  Kinetics-700's CSVs (extra `is_cc` column, split `validate`) read as `kinetics`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
from collections.abc import Sequence

FORMATS = ("auto", "simple", "dmvr", "kinetics", "charades", "ssv2", "epic_kitchens", "list",
           "rawframes")
_VIDEO_EXTS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".MP4")
# Epic-Kitchens-100's label sets in Scenic's order (its released head: nouns, then verbs).
EPIC_KITCHENS_100_SETS = "noun:300,verb:97"


@dataclasses.dataclass(frozen=True)
class Row:
    """One video to convert. `line` is the 1-based line (CSV) or item (JSON) number."""

    line: int
    path: str  # As resolved against --video_dir (may not exist: reported per row).
    labels: tuple[str, ...]
    start: float = 0.0  # Seconds.
    end: float | None = None  # Seconds; None = to the end of the file.
    caption: str = ""
    video_id: str = ""
    # Several label sets (Epic-Kitchens): (set name, class id within the set, its text).
    label_sets: tuple[tuple[str, int, str], ...] = ()
    # List files: the class indices themselves (`labels` holds them as text).
    label_ids: tuple[int, ...] = ()
    num_frames: int = 0  # Raw-frame lists: frames to read from the directory (0: all).


# The columns each CSV format reads (a file without them is refused, naming them).
_COLUMNS = {"simple": ("path", "label"), "dmvr": ("video_path",),
            "kinetics": ("youtube_id", "time_start", "time_end"),
            "charades": ("id", "actions"),
            "epic_kitchens": ("narration_id", "participant_id", "video_id", "start_timestamp",
                              "stop_timestamp")}


# Epic-Kitchens-100's label columns: a CSV has all of them (train, validation) or none (the
# test CSVs, `EPIC_100_test_timestamps.csv`, whose columns stop at `stop_frame`).
_EPIC_KITCHENS_LABELS = ("verb", "verb_class", "noun", "noun_class")


def _epic_kitchens_labelled(path: pathlib.Path, header: list[str]) -> bool:
    """Whether an Epic-Kitchens CSV has labels (False: a test CSV); one with only some of the
    label columns is refused, naming the missing ones."""
    missing = [c for c in _EPIC_KITCHENS_LABELS if c not in header]
    if missing and len(missing) < len(_EPIC_KITCHENS_LABELS):
        raise ValueError(f"{path}: an Epic-Kitchens CSV has all of the label columns "
                         f"{list(_EPIC_KITCHENS_LABELS)} or none (a test CSV); missing "
                         f"{missing}")
    return not missing


def is_epic_kitchens_test(path: str | pathlib.Path, fmt: str = "auto") -> bool:
    """Whether `path` is an Epic-Kitchens-100 test CSV: the official columns up to
    `stop_frame`, none of the label columns (whatever the file is called)."""
    path = pathlib.Path(path)
    if fmt == "auto" and path.suffix not in (".json", ".txt"):
        fmt = detect_format(path)
    if fmt != "epic_kitchens":
        return False
    with open(path, newline="") as f:
        header = [h.strip() for h in next(csv.reader(f), [])]
    return not _epic_kitchens_labelled(path, header)


def _read_csv(path: pathlib.Path, fieldnames: Sequence[str] | None = None
              ) -> tuple[list[str], list[tuple[int, dict]]]:
    """(header, [(1-based line, row dict)]); `fieldnames` reads a headerless file."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f, fieldnames=fieldnames)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        first = 1 if fieldnames else 2
        rows = [(i + first, {k: (v or "").strip() for k, v in r.items() if k}) for i, r in
                enumerate(reader)]
    return header, rows


def _headerless_simple(header: list[str]) -> bool:
    """Whether a CSV's first line is a `path,label[,…]` row rather than a header (Moments in
    Time's CSVs add agreement counts after the label: ignored)."""
    return (len(header) >= 2 and "path" not in header
            and pathlib.PurePath(header[0]).suffix.lower() in _VIDEO_EXTS)


def detect_format(path: pathlib.Path) -> str:
    """Format of an annotation file from its suffix and CSV header."""
    if path.suffix == ".json":
        return "ssv2"
    if path.suffix == ".txt":
        return _detect_list(path)
    header, _ = _read_csv(path)
    if _headerless_simple(header):
        return "simple"
    # DMVR's start and end are optional when reading, but mark the format in a header.
    needed = dict(_COLUMNS, dmvr=("video_path", "start", "end"))
    for fmt in ("simple", "dmvr", "kinetics", "charades", "epic_kitchens"):
        if set(needed[fmt]) <= set(header):
            return fmt
    raise ValueError(
        f"cannot tell the format of {path} from its header {header}; pass --format "
        f"(one of {FORMATS[1:]})"
    )


def _find(video_dir: pathlib.Path, stems: list[str], subdirs: list[str]) -> pathlib.Path:
    for sub in subdirs:
        for stem in stems:
            for ext in _VIDEO_EXTS:
                p = video_dir / sub / f"{stem}{ext}"
                if p.exists():
                    return p
    return video_dir / subdirs[0] / f"{stems[0]}{_VIDEO_EXTS[0]}"


def _split_labels(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(";") if x.strip())


def read_annotations(
    path: str | pathlib.Path, video_dir: str | pathlib.Path, fmt: str = "auto"
) -> list[Row]:
    """Rows of an annotation file (see module doc for the formats)."""
    path, video_dir = pathlib.Path(path), pathlib.Path(video_dir)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown --format {fmt!r}; expected one of {FORMATS}")
    if fmt in ("list", "rawframes"):
        return _read_list(path, video_dir, fmt)
    if fmt == "ssv2":
        items = json.loads(path.read_text())
        rows = []
        for i, it in enumerate(items):
            if not isinstance(it, dict) or "id" not in it:
                raise ValueError(f"{path}: item {i + 1} is not an SSv2 record with an 'id': "
                                 f"{str(it)[:80]}")
            label = it.get("template", "").replace("[", "").replace("]", "")
            vid = str(it["id"])
            rows.append(Row(i + 1, str(_find(video_dir, [vid], ["."])),
                            (label,) if label else (), video_id=vid))
        return rows
    header, records = _read_csv(path)
    if fmt == "simple" and _headerless_simple(header):
        header, records = _read_csv(path, fieldnames=_COLUMNS["simple"])
    missing = [c for c in _COLUMNS[fmt] if c not in header]
    if missing:
        raise ValueError(f"{path}: the {fmt!r} format needs the column(s) {missing} in its "
                         f"header line; found {header}")
    if fmt == "epic_kitchens":
        _epic_kitchens_labelled(path, header)  # All label columns or none.
    rows = []
    for line, r in records:
        try:
            rows.append(_csv_row(fmt, line, r, video_dir))
        except ValueError as e:  # A malformed number: name the line.
            raise ValueError(f"{path}:{line}: {e}") from None
    return rows


def _csv_row(fmt: str, line: int, r: dict[str, str], video_dir: pathlib.Path) -> Row:
    """One CSV record of format `fmt` as a `Row` (raises ValueError on a malformed number)."""
    if fmt == "simple":
        return Row(line, str(video_dir / r["path"]), _split_labels(r["label"]),
                   video_id=r["path"])
    if fmt == "dmvr":
        end = r.get("end", "")
        return Row(line, str(video_dir / r["video_path"]), _split_labels(r.get("label", "")),
                   float(r.get("start") or 0), float(end) if end else None,
                   r.get("caption", ""), r["video_path"])
    if fmt == "kinetics":
        yid, label = r["youtube_id"], r.get("label", "")
        s, e = int(float(r["time_start"])), int(float(r["time_end"]))
        stem = f"{yid}_{s:06d}_{e:06d}"
        subdirs = ["."] + ([label, label.replace(" ", "_")] if label else [])
        return Row(line, str(_find(video_dir, [stem, yid], subdirs)),
                   (label,) if label else (), video_id=stem)
    if fmt == "epic_kitchens":
        return _epic_kitchens_row(line, r, video_dir)
    # charades
    labels = tuple(a.split()[0] for a in r["actions"].split(";") if a.strip())
    return Row(line, str(_find(video_dir, [r["id"]], ["."])), labels, video_id=r["id"])


def ssv2_label_names(labels_json: str | pathlib.Path) -> list[str]:
    """Class names of SSv2's `something-something-v2-labels.json` ({name: "index"})."""
    data = json.loads(pathlib.Path(labels_json).read_text())
    return [k.replace("[", "").replace("]", "") for k in data]


def _timestamp(text: str) -> float:
    """'HH:MM:SS.ff' (Epic-Kitchens) → seconds."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"timestamp {text!r} is not HH:MM:SS.ff")
    h, m, sec = parts
    return int(h) * 3600 + int(m) * 60 + float(sec)


def _epic_kitchens_row(line: int, r: dict[str, str], video_dir: pathlib.Path) -> Row:
    """One Epic-Kitchens-100 action segment: the long video trimmed to [start, stop)."""
    pid, vid = r["participant_id"], r["video_id"]
    start, end = _timestamp(r["start_timestamp"]), _timestamp(r["stop_timestamp"])
    if end <= start:
        raise ValueError(f"stop_timestamp {r['stop_timestamp']} is not after start_timestamp "
                         f"{r['start_timestamp']}")
    sets = []
    for name in ("noun", "verb"):  # Test CSVs carry neither.
        cls = r.get(f"{name}_class", "")
        if cls:
            sets.append((name, int(cls), r.get(name, "")))
    path = _find(video_dir, [vid], [f"{pid}/videos", pid, "."])
    return Row(line, str(path), tuple(f"{n}:{c}" for n, c, _ in sets), start, end,
               video_id=r["narration_id"], label_sets=tuple(sets))


def _detect_list(path: pathlib.Path) -> str:
    """'rawframes' when a list line's second field is a frame count followed by a label,
    else 'list' (`path label …`)."""
    with open(path) as f:
        first = next((ln.split() for ln in f if ln.strip()), [])
    if len(first) >= 3 and all(x.isdigit() for x in first[1:]) and pathlib.PurePath(
            first[0]).suffix.lower() not in _VIDEO_EXTS:
        return "rawframes"
    return "list"


def _read_list(path: pathlib.Path, video_dir: pathlib.Path, fmt: str) -> list[Row]:
    """mmaction2 / PySlowFast list files (`list`, `rawframes`): see the module doc."""
    rows = []
    need = 3 if fmt == "rawframes" else 2
    for line, text in enumerate(path.read_text().splitlines(), 1):
        fields = text.split()
        if not fields:
            continue
        if len(fields) < need or not all(x.lstrip("-").isdigit() for x in fields[1:]):
            what = "dir total_frames label" if fmt == "rawframes" else "path label"
            raise ValueError(f"{path}:{line}: expected `{what} [label …]` with integer "
                             f"fields, got {text.strip()[:80]!r}")
        frames = int(fields[1]) if fmt == "rawframes" else 0
        ids = tuple(int(x) for x in fields[need - 1:])
        rows.append(Row(line, str(video_dir / fields[0]), tuple(str(i) for i in ids),
                        video_id=fields[0], label_ids=ids, num_frames=frames))
    return rows
