"""The README documents every configuration key and the two set-up commands."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from tickets.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _keys(cls: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            keys += _keys(hints[f.name], f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def test_every_setting_is_documented() -> None:
    missing = [k for k in _keys(Settings) if k.split(".")[-1] not in README or k.split(".")[0] not in README]
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    undocumented = [k for k in _keys(Settings) if not any(
        k in row or (k.rsplit(".", 1)[-1] in row and k.rsplit(".", 1)[0] in row) for row in rows)]
    assert not missing and not undocumented, undocumented


def test_two_setup_commands_and_ci_uses_the_test_one() -> None:
    assert "bash .ci/bootstrap.sh serve" in README and "bash .ci/bootstrap.sh test" in README
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec bash .ci/bootstrap.sh test" in ci
