"""``lra list [models|tasks|backends|plugins] [--json]``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import registry


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", default="all", choices=["all", "models", "tasks", "backends", "plugins"])
    p.add_argument("--json", action="store_true", help="machine-readable output")


def collect(reg: Any, what: str) -> dict[str, list[dict[str, Any]]]:
    def origin(kind: str, key: str) -> dict[str, Any]:
        info = reg.origin(kind, key)
        return {"plugin": info.name, "distribution": info.distribution, "version": info.version}

    out: dict[str, list[dict[str, Any]]] = {}
    if what in ("all", "models"):
        out["models"] = [
            {
                "id": mid,
                "framework": c.framework,
                "name": c.name,
                "complexity": c.capabilities.complexity,
                "padding_mask": c.capabilities.padding_mask,
                "description": c.description,
                "reference": c.reference,
                **origin("model", mid),
            }
            for mid, c in sorted(reg.models.items())
        ]
    if what in ("all", "tasks"):
        out["tasks"] = [
            {
                "id": tid,
                "title": t.spec.title,
                "version": t.spec.version,
                "input": t.spec.input,
                "max_length": t.spec.max_length,
                "sources": t.spec.sources,
                "presets": sorted(t.spec.presets),
                **origin("task", tid),
            }
            for tid, t in sorted(reg.tasks.items())
        ]
    if what in ("all", "backends"):
        out["backends"] = [
            {"framework": fw, "class": f"{b.__module__}.{b.__qualname__}", "description": b.description, **origin("backend", fw)}
            for fw, b in sorted(reg.backends.items())
        ]
    if what in ("all", "plugins"):
        out["plugins"] = [p.as_dict() for p in reg.plugins]
    out["conflicts"] = [
        {"kind": kind, "key": key, "distributions": [i.origin() for i in infos]}
        for (kind, key), infos in sorted(reg.conflicts.items())
    ]
    return out


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    reg = registry(args)
    data = collect(reg, args.what)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0

    def dist(d: dict[str, Any]) -> str:
        return f"{d['distribution'] or '(local)'} {d['version'] or ''}".strip()

    blocks = []
    if "models" in data:
        rows = [[m["id"], m["complexity"], dist(m)] for m in data["models"]]
        blocks.append(f"Models ({len(rows)})\n" + _table(rows, ["id", "complexity", "distribution"]))
    if "tasks" in data:
        rows = [[t["id"], t["title"], str(t["max_length"]), ",".join(t["sources"]), dist(t)] for t in data["tasks"]]
        blocks.append(f"Tasks ({len(rows)})\n" + _table(rows, ["id", "title", "max_len", "sources", "distribution"]))
    if "backends" in data:
        rows = [[b["framework"], b["class"], dist(b)] for b in data["backends"]]
        blocks.append(f"Backends ({len(rows)})\n" + _table(rows, ["framework", "class", "distribution"]))
    if "plugins" in data:
        rows = [
            [p["name"], f"{p['distribution'] or '(local)'} {p['version'] or ''}".strip(), p["status"], p["error"] or ""]
            for p in data["plugins"]
        ]
        blocks.append(f"Plugins ({len(rows)})\n" + _table(rows, ["plugin", "distribution", "status", "error"]))
    if data["conflicts"]:
        rows = [[c["kind"], c["key"], " vs ".join(c["distributions"])] for c in data["conflicts"]]
        blocks.append("Name clashes (unusable until one is removed)\n" + _table(rows, ["kind", "id", "registered by"]))
    failed = [p for p in reg.plugins if not p.ok]
    if failed and args.what not in ("plugins", "all"):
        blocks.append(f"{len(failed)} plugin(s) failed to load; see `lra list plugins`")
    print("\n\n".join(blocks))
    return 0
