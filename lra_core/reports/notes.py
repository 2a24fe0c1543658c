"""The lines under every table: environment summaries and short value lists."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        v = d.get(k)
        if v not in (None, "", {}):
            return v
    return None


def device_name(*dicts: Mapping[str, Any] | None) -> str | None:
    """A device's name from a describe_device()-like dict (flat, or nested under ``device``)."""
    for d in dicts:
        if not isinstance(d, Mapping):
            continue
        name = _first(d, "name", "device_name")
        kind = _first(d, "kind", "platform", "device_kind")
        count = d.get("count")
        if name or kind:
            text = str(name or kind)
            if kind and name and str(kind).lower() not in str(name).lower():
                text = f"{kind}: {name}"
            return f"{count} x {text}" if isinstance(count, int) and count > 1 else text
        nested = d.get("device")
        if isinstance(nested, Mapping):
            found = device_name(nested)
            if found:
                return found
    return None


#: Keys of describe_device() dicts that are framework or driver versions.
VERSION_KEYS = ("torch", "jax", "jaxlib", "flax", "optax", "driver", "cuda_driver", "cuda_runtime", "cuda", "cudnn")


def versions(d: Mapping[str, Any] | None) -> list[str]:
    """``torch 2.x``, ``jax 0.x``, driver and CUDA lines from a describe_device()-like dict."""
    if not isinstance(d, Mapping):
        return []
    out = []
    for key, value in d.items():
        if isinstance(value, Mapping) and key == "versions":
            out += [f"{k} {v}" for k, v in value.items() if v]
        elif isinstance(value, (str, int, float)) and value and (key in VERSION_KEYS or key.endswith("version")):
            out.append(f"{key} {value}")
    return out


def git_text(env: Mapping[str, Any] | None) -> str | None:
    git = (env or {}).get("git") or {}
    commit = git.get("commit")
    if not commit:
        return None
    return f"{commit[:10]}{' (dirty)' if git.get('dirty') else ''}"


def join_unique(values: Iterable[Any], empty: str = "unknown") -> str:
    seen: list[str] = []
    for v in values:
        if v is None or v == "":
            continue
        s = str(v)
        if s not in seen:
            seen.append(s)
    return ", ".join(seen) if seen else empty


def environment_line(envs: Iterable[Mapping[str, Any]], devices: Iterable[Mapping[str, Any] | None]) -> str:
    envs, devices = list(envs), list(devices)
    parts = [
        f"device {join_unique(device_name(d) for d in devices)}",
        f"CPU {join_unique(e.get('cpu') for e in envs)}",
        f"Python {join_unique(e.get('python') for e in envs)}",
        f"git {join_unique(git_text(e) for e in envs)}",
    ]
    vers = join_unique(v for d in devices for v in versions(d))
    if vers != "unknown":
        parts.append(vers)
    return "environment: " + "; ".join(parts)
