"""``lra data prepare|info|export|show`` end to end (smoke presets, tmp data dir)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from lra_core.cli.main import main


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LRA_DATA_DIR", str(tmp_path / "lra-data"))
    return tmp_path / "lra-data"


def test_listops_prepare_info_show_export(tmp_path, capsys, data_home):
    assert main(["data", "prepare", "listops", "--preset", "smoke", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "train 256, validation 64, test 64" in out and str(data_home) in out
    assert main(["data", "info", "listops", "--preset", "smoke", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "p0/p10/p50/p90/p99/max" in out and "validation" in out and "0:" in out
    assert main(["data", "show", "listops", "--preset", "smoke", "--seed", "2", "--split", "test", "--index", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tokens (") and "source: ( " in out and "label: " in out
    assert main(["data", "export", "listops", str(tmp_path / "exp"), "--preset", "smoke", "--seed", "2"]) == 0
    assert (tmp_path / "exp" / "basic_val.tsv").read_bytes().startswith(b"Source\tTarget\r\n")
    assert main(["data", "info", "listops", "--source", "official", "--path", str(tmp_path / "exp"),
                 "--preset", "smoke", "--json"]) == 0
    assert '"examples": 64' in capsys.readouterr().out


def test_user_errors_exit_2(capsys):
    assert main(["data", "show", "listops", "--preset", "smoke", "--index", "999"]) == 2
    assert "--index 999" in capsys.readouterr().err
    assert main(["data", "info", "text"]) == 2
    err = capsys.readouterr().err
    assert "lra data prepare text --source local --path DIR" in err and "Traceback" not in err
    assert main(["data", "export", "image", "/tmp/x"]) == 2
    assert "no exporter" in capsys.readouterr().err
    assert main(["data", "prepare", "nosuchtask"]) == 2
    assert main(["data"]) == 2


def test_image_show_writes_png(tmp_path, capsys):
    folder = tmp_path / "cifar"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8), b"labels": [1, 2, 3, 4]}, f)
    assert main(["data", "prepare", "image", "--path", str(folder), "--preset", "smoke"]) == 0
    assert "train 18, validation 2, test 4" in capsys.readouterr().out
    png = tmp_path / "ex.png"
    assert main(["data", "show", "image", "--preset", "smoke", "--split", "validation", "--index", "1",
                 "--out", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert main(["data", "info", "image", "--preset", "smoke"]) == 0
    assert "mean token" in capsys.readouterr().out
