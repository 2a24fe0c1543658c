"""ListOps official layout: export, read back, the original sample, corrupt files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lra_core import MissingDataError, UserError
from lra_core.data import load_dataset, make_request
from lra_task_specs.listops import official
from lra_task_specs.plugin import builtin_tasks

SAMPLE = Path("/work/shared/data/listops-original-sample")


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LRA_DATA_DIR", str(tmp_path / "lra-data"))


@pytest.fixture
def listops():
    return next(t for t in builtin_tasks() if t.id == "listops")


def test_export_then_read_back_is_identical(listops, tmp_path):
    gen = load_dataset(listops, make_request(listops, "smoke", seed=4))
    out = tmp_path / "release"
    listops.exporter(gen, out)
    raw = (out / "basic_train.tsv").read_bytes()
    assert raw.startswith(b"Source\tTarget\r\n") and raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    first = raw.split(b"\r\n")[1].decode()
    assert first.startswith("( ") and "]" in first and "X" not in first
    back = load_dataset(listops, make_request(listops, "smoke", source="official", path=out, seed=4))
    for s in ("train", "validation", "test"):
        assert back[s]["inputs"] == gen[s]["inputs"]
        assert back[s]["label"] == gen[s]["label"]


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="original sample not available")
def test_reads_the_original_release_layout(listops, tmp_path):
    ref = tmp_path / "orig"
    shutil.copytree(SAMPLE, ref)
    dsd = load_dataset(listops, make_request(listops, "code", source="official", path=ref))
    assert {s: len(dsd[s]) for s in dsd} == {"train": 2000, "validation": 200, "test": 200}
    lines = (ref / "basic_val.tsv").read_bytes().decode().split("\r\n")
    src, target = lines[1].split("\t")
    assert dsd["validation"]["label"][0] == int(target)
    assert official.to_source(np.asarray(dsd["validation"]["inputs"][0])) == src
    # A smaller preset takes a seeded subset of each file, deterministically.
    a = load_dataset(listops, make_request(listops, "smoke", source="official", path=ref, seed=1))
    assert len(a["train"]) == 256 and len(a["test"]) == 64
    assert set(map(tuple, a["test"]["inputs"])) <= set(map(tuple, dsd["test"]["inputs"]))


def write_release(folder: Path, rows: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in official.SPLIT_FILES.values():
        body = rows.get(name, ["( ( ( [MAX 2 ) 9 ) ] )\t9"])
        (folder / name).write_bytes(("Source\tTarget\r\n" + "\r\n".join(body) + "\r\n").encode())


@pytest.mark.parametrize("row,error", [
    ("( ( ( [MAX 2 ) 9 ) ] )", "row 3: expected 2 tab-separated fields"),
    ("( ( ( [MAX 2 ) 9 ) ] )\tnine", "row 3: Target 'nine' is not an integer"),
    ("( ( ( [AVG 2 ) 9 ) ] )\t5", "row 3: unknown token '[AVG'"),
    ("( ( ( [MAX 2 ) 9 ) ] )\t12", "row 3: Target 12 is outside 0-9"),
])
def test_corrupt_rows_name_file_and_row(listops, tmp_path, row, error):
    folder = tmp_path / "bad"
    write_release(folder, {"basic_val.tsv": ["( ( ( [MIN 2 ) 9 ) ] )\t2", row]})
    with pytest.raises(UserError) as e:
        load_dataset(listops, make_request(listops, "smoke", source="official", path=folder))
    assert "basic_val.tsv" in str(e.value) and error in str(e.value)


def test_bad_header(listops, tmp_path):
    folder = tmp_path / "bad"
    write_release(folder, {})
    (folder / "basic_test.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(UserError, match=r"basic_test.tsv: row 1: expected the header"):
        load_dataset(listops, make_request(listops, "smoke", source="official", path=folder))


def test_missing_one_file(listops, tmp_path):
    folder = tmp_path / "partial"
    write_release(folder, {})
    (folder / "basic_test.tsv").unlink()
    with pytest.raises(MissingDataError, match="basic_test.tsv"):
        load_dataset(listops, make_request(listops, "smoke", source="official", path=folder))
