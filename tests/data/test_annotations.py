"""Annotation readers: every format `vivit-prepare` accepts, read into the same `Row`s."""

import json

import pytest

from vivit_jax.data import annotations as ann


def _read(tmp_path, name, text, video_dir=None, fmt="auto"):
    path = tmp_path / name
    path.write_text(text)
    return ann.read_annotations(path, video_dir or tmp_path / "videos", fmt)


def test_simple_with_and_without_header(tmp_path):
    v = tmp_path / "videos"
    with_header = _read(tmp_path, "a.csv", "path,label\nx/1.mp4,walk\n2.MP4,run; jump\n")
    headerless = _read(tmp_path, "b.csv", "x/1.mp4,walk\n2.MP4,run; jump\n")
    assert [(r.line, r.path, r.labels, r.video_id) for r in with_header] == [
        (2, str(v / "x/1.mp4"), ("walk",), "x/1.mp4"),
        (3, str(v / "2.MP4"), ("run", "jump"), "2.MP4")]
    assert [(r.line, r.path, r.labels) for r in headerless] == [
        (1, str(v / "x/1.mp4"), ("walk",)), (2, str(v / "2.MP4"), ("run", "jump"))]
    assert _read(tmp_path, "c.csv", "x.mp4,walk\n", fmt="simple")[0].labels == ("walk",)


def test_dmvr_csv_trims_and_captions(tmp_path):
    rows = _read(tmp_path, "d.csv", "video_path,start,end,label,caption\n"
                                    "a.mp4,1.5,4,walk;run,a person walks\nb.mp4,,,,\n")
    a, b = rows
    assert (a.start, a.end, a.labels, a.caption, a.video_id) == (
        1.5, 4.0, ("walk", "run"), "a person walks", "a.mp4")
    assert (b.start, b.end, b.labels, b.caption) == (0.0, None, (), "")


def test_kinetics_finds_the_downloaders_trimmed_clips(tmp_path):
    v = tmp_path / "videos"
    (v / "playing_guitar").mkdir(parents=True)
    (v / "playing_guitar" / "abc_000010_000020.webm").write_bytes(b"x")
    (v / "xyz.mp4").write_bytes(b"x")
    rows = _read(tmp_path, "k.csv", "label,youtube_id,time_start,time_end,split\n"
                                    "playing guitar,abc,10,20,train\n"
                                    "dancing,xyz,3.0,13.0,train\n"
                                    "dancing,gone,0,10,train\n")
    assert [(r.path, r.labels, r.video_id, r.start, r.end) for r in rows] == [
        (str(v / "playing_guitar" / "abc_000010_000020.webm"), ("playing guitar",),
         "abc_000010_000020", 0.0, None),  # Already trimmed: no second trim.
        (str(v / "xyz.mp4"), ("dancing",), "xyz_000003_000013", 0.0, None),
        (str(v / "gone_000000_000010.mp4"), ("dancing",), "gone_000000_000010", 0.0, None)]
    # The test split's CSV has no label column: detected, rows unlabelled.
    (test,) = _read(tmp_path, "t.csv", "youtube_id,time_start,time_end,split\nxyz,3,13,test\n")
    assert (test.path, test.labels) == (str(v / "xyz.mp4"), ())


def test_charades_and_ssv2(tmp_path):
    (ch,) = _read(tmp_path, "c.csv", "id,subject,actions,length\n"
                                     "46GP8,s1,c092 11.90 21.20;c147 0.00 12.60,24.8\n")
    assert (ch.labels, ch.video_id, ch.path) == (
        ("c092", "c147"), "46GP8", str(tmp_path / "videos" / "46GP8.mp4"))
    items = [{"id": "78687", "template": "Holding [something] next to [something]",
              "label": "holding potato next to vicks vaporub bottle"}, {"id": 42}]
    rows = _read(tmp_path, "something-something-v2-train.json", json.dumps(items))
    assert [(r.line, r.labels, r.video_id) for r in rows] == [
        (1, ("Holding something next to something",), "78687"), (2, (), "42")]
    assert rows[0].path == str(tmp_path / "videos" / "78687.mp4")  # Not found: first guess.


def test_bad_files_name_the_culprit(tmp_path):
    with pytest.raises(ValueError, match=r"cannot tell the format of .*odd.csv from its "
                                         r"header \['clip', 'class'\]; pass --format"):
        _read(tmp_path, "odd.csv", "clip,class\na.mp4,walk\n")
    with pytest.raises(ValueError, match=r"the 'kinetics' format needs the column\(s\) "
                                         r"\['time_start', 'time_end'\]"):
        _read(tmp_path, "k.csv", "label,youtube_id\nwalk,abc\n", fmt="kinetics")
    with pytest.raises(ValueError, match=r"d.csv:3: could not convert string to float: 'x'"):
        _read(tmp_path, "d.csv", "video_path,start,end\na.mp4,0,1\nb.mp4,x,2\n")
    with pytest.raises(ValueError, match=r"s.json: item 2 is not an SSv2 record with an 'id'"):
        _read(tmp_path, "s.json", json.dumps([{"id": 1}, {"template": "x"}]))
    with pytest.raises(FileNotFoundError, match="annotation file .*none.csv does not exist"):
        ann.read_annotations(tmp_path / "none.csv", tmp_path)


def test_kinetics700_is_cc_column_and_epic_kitchens_rows(tmp_path):
    v = tmp_path / "videos"
    (v / "P01" / "videos").mkdir(parents=True)
    (v / "P01" / "videos" / "P01_01.MP4").write_bytes(b"x")
    (k,) = _read(tmp_path, "validate.csv", "label,youtube_id,time_start,time_end,split,is_cc\n"
                                           "abseiling,abc,1,11,validate,0\n")
    assert (k.labels, k.video_id) == (("abseiling",), "abc_000001_000011")
    header = ("narration_id,participant_id,video_id,narration_timestamp,start_timestamp,"
              "stop_timestamp,start_frame,stop_frame,narration,verb,verb_class,noun,"
              "noun_class,all_nouns,all_noun_classes\n")
    a, b = _read(tmp_path, "EPIC_100_train.csv", header
                 + "P01_01_0,P01,P01_01,00:00:01.08,00:00:01.08,00:01:02.55,54,3127,open door,"
                   "open,3,door,8,['door'],[8]\n"
                 + "P02_07_3,P02,P02_07,00:00:05.00,00:00:05.00,00:00:06.50,250,325,take cup,"
                   "take,0,cup,13,['cup'],[13]\n")
    assert (a.path, a.start, a.end, a.video_id) == (
        str(v / "P01" / "videos" / "P01_01.MP4"), 1.08, 62.55, "P01_01_0")
    assert a.label_sets == (("noun", 8, "door"), ("verb", 3, "open"))
    assert b.path == str(v / "P02" / "videos" / "P02_07.mp4")  # Not found: first guess.
    (t,) = _read(tmp_path, "EPIC_100_test_timestamps.csv",
                 "narration_id,participant_id,video_id,start_timestamp,stop_timestamp,"
                 "start_frame,stop_frame\nP01_11_0,P01,P01_11,00:00:00.00,00:00:02.00,1,100\n")
    assert (t.label_sets, t.labels, t.end) == ((), (), 2.0)
    with pytest.raises(ValueError, match=r"e.csv:2: stop_timestamp 00:00:01.00 is not after"):
        _read(tmp_path, "e.csv", "narration_id,participant_id,video_id,start_timestamp,"
                                 "stop_timestamp\nx,P01,P01_01,00:00:02.00,00:00:01.00\n")


def test_mmaction2_and_pyslowfast_list_files(tmp_path):
    v = tmp_path / "videos"
    rows = _read(tmp_path, "train_list.txt", "a/1.mp4 3\nb.avi 0 2\n\n")
    assert [(r.line, r.path, r.label_ids, r.labels) for r in rows] == [
        (1, str(v / "a/1.mp4"), (3,), ("3",)), (2, str(v / "b.avi"), (0, 2), ("0", "2"))]
    frames = _read(tmp_path, "rawframes_val.txt", "clips/x 120 4\nclips/y 90 1\n")
    assert ann.detect_format(tmp_path / "rawframes_val.txt") == "rawframes"
    assert [(r.path, r.num_frames, r.label_ids) for r in frames] == [
        (str(v / "clips/x"), 120, (4,)), (str(v / "clips/y"), 90, (1,))]
    with pytest.raises(ValueError, match=r"bad.txt:2: expected `path label \[label …\]`"):
        _read(tmp_path, "bad.txt", "a.mp4 1\nb.mp4 walk\n", fmt="list")


def test_moments_in_time_csv_reads_as_simple(tmp_path):
    rows = _read(tmp_path, "trainingSet.csv", "abseiling/giphy-ab_0.mp4,abseiling,3,0\n"
                                              "adult+female+singing/yt-xy_12.mp4,adult+female+"
                                              "singing,2,1\n")
    assert ann.detect_format(tmp_path / "trainingSet.csv") == "simple"
    assert [(r.labels, r.video_id) for r in rows] == [
        (("abseiling",), "abseiling/giphy-ab_0.mp4"),
        (("adult+female+singing",), "adult+female+singing/yt-xy_12.mp4")]
