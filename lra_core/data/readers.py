"""Readers shared by builders: saved Hugging Face datasets, table files, TSV rows, hub loading.

Every reader reports a malformed input as a :class:`~lra_core.errors.UserError` naming the file (and
row where there is one). Nothing here touches the network except :func:`load_hub`, which builders call
only for an explicitly requested hub source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

from ..errors import UserError

TABLE_EXTENSIONS = ("parquet", "jsonl", "json", "csv")


def is_saved_hf(path: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def load_saved_hf(path: Path, splits: Sequence[str]) -> dict[str, Any]:
    """Splits of a saved ``DatasetDict`` (or ``{"train": Dataset}`` for a saved single Dataset)."""
    import datasets

    try:
        obj = datasets.load_from_disk(str(path))
    except Exception as e:  # corrupt or partial folder
        raise UserError(f"{path}: cannot read the saved Hugging Face dataset ({type(e).__name__}: {e})") from None
    if isinstance(obj, datasets.Dataset):
        obj = datasets.DatasetDict({"train": obj})
    missing = [s for s in splits if s not in obj]
    if missing:
        raise UserError(f"{path}: the saved dataset has splits {sorted(obj)}, missing {missing}")
    return {s: obj[s] for s in splits}


def find_table_files(path: Path, splits: Sequence[str]) -> dict[str, Path] | None:
    """``<split>.{parquet,jsonl,json,csv}`` for every split in ``path``, or None if any is absent."""
    found: dict[str, Path] = {}
    for split in splits:
        for ext in TABLE_EXTENSIONS:
            f = path / f"{split}.{ext}"
            if f.is_file():
                found[split] = f
                break
        else:
            return None
    return found


def read_table(path: Path, columns: Sequence[str]) -> dict[str, list[Any]]:
    """Columns of a parquet, JSON Lines or CSV file as Python lists."""
    import pyarrow as pa

    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        elif path.suffix in (".jsonl", ".json"):
            return _read_jsonl(path, columns)
        elif path.suffix == ".csv":
            import pyarrow.csv as pc

            table = pc.read_csv(path, parse_options=pc.ParseOptions(newlines_in_values=True))
        else:
            raise UserError(f"{path}: unsupported file type; use one of {', '.join(TABLE_EXTENSIONS)}")
    except (pa.ArrowInvalid, OSError) as e:
        raise UserError(f"{path}: cannot parse ({str(e).splitlines()[0]})") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UserError(f"{path}: missing column(s) {missing}; found {table.column_names}")
    return {c: table.column(c).to_pylist() for c in columns}


def _read_jsonl(path: Path, columns: Sequence[str]) -> dict[str, list[Any]]:
    """JSON Lines read row by row, so a bad row is named (Arrow's reader infers one type per column)."""
    import json

    out: dict[str, list[Any]] = {c: [] for c in columns}
    with open(path, encoding="utf-8") as f:
        for row, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}: row {row}: invalid JSON ({e.msg}); truncated or corrupt file?") from None
            if not isinstance(obj, dict):
                raise UserError(f"{path}: row {row}: expected a JSON object per line")
            missing = [c for c in columns if c not in obj]
            if missing:
                raise UserError(f"{path}: row {row}: missing field(s) {missing}")
            for c in columns:
                out[c].append(obj[c])
    return out


def tsv_rows(path: Path, num_fields: int) -> Iterator[tuple[int, list[bytes]]]:
    """``(row number, fields)`` of a headerless TSV read as bytes (no quoting, as LRA's reader).

    A row with the wrong number of fields is a UserError naming the file and row (a truncated or
    corrupt download usually shows up this way).
    """
    with open(path, "rb") as f:
        for row, line in enumerate(f, start=1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            fields = line.split(b"\t")
            if len(fields) != num_fields:
                raise UserError(
                    f"{path}: row {row}: expected {num_fields} tab-separated fields, got {len(fields)} "
                    "(truncated or corrupt file?)"
                )
            yield row, fields


def count_rows(path: Path) -> int:
    """Non-empty lines of a text file (streamed)."""
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if line.strip(b"\r\n"):
                n += 1
    return n


def load_hub(name: str, **kwargs: Any) -> Any:
    """``datasets.load_dataset(name)``: the only place the data layer may reach the network."""
    import datasets

    try:
        return datasets.load_dataset(name, **kwargs)
    except (ConnectionError, OSError) as e:
        raise UserError(
            f"cannot load {name!r} from the Hugging Face hub ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            "go online, or download it elsewhere and use --source local --path DIR"
        ) from None
