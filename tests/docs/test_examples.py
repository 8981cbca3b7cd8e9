"""The examples in the README and the docs pages are real: every TOML block is a valid config, every
``streamer`` and ``streamer-export`` command line parses with the real command-line parser."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from export.cli import _parser as export_parser
from streamer.cli import _parser as streamer_parser
from streamer.config import Config, parse_config

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
SHELL_OPERATORS = {"&&", "||", "|", ";", ">", ">>", "2>", "2>&1", "<"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(lang: set[str]) -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for match in FENCE.finditer(page.read_text("utf-8")):
            if match.group(1) in lang:
                found.append((page.relative_to(ROOT).as_posix(), match.group(2)))
    return found


def command_lines() -> list[tuple[str, str, list[str]]]:
    """Each shell line that runs streamer or streamer-export, as (page, program, arguments)."""
    lines = []
    for page, text in blocks({"sh", ""}):
        for line in text.replace("\\\n", " ").splitlines():
            # Square brackets are synopsis notation (optional arguments), not part of a command.
            words = shlex.split(re.sub(r"\[[^\]]*\]", "", line), comments=True)
            for i, word in enumerate(words):
                program = word.rsplit("/", 1)[-1]
                if program in ("streamer", "streamer-export") and (i == 0 or words[i - 1] in ("sudo", "&&")):
                    rest = words[i + 1 :]
                    ends = [j for j, w in enumerate(rest) if w in SHELL_OPERATORS]
                    lines.append((page, program, rest[: ends[0]] if ends else rest))
    return lines


TOML = blocks({"toml"})
COMMANDS = command_lines()


def test_the_pages_have_examples() -> None:
    assert len(TOML) >= 5
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize(("page", "text"), TOML, ids=[f"{p}#{i}" for i, (p, _) in enumerate(TOML)])
def test_toml_examples_are_valid_configs(page: str, text: str) -> None:
    data = tomllib.loads(text)
    data.setdefault("models", {"example": {"path": "model.onnx"}})  # a fragment of one section
    config = parse_config(data, ROOT, page)
    assert isinstance(config, Config)


@pytest.mark.parametrize(("page", "program", "args"), COMMANDS, ids=[f"{p}:{g} {' '.join(a)}" for p, g, a in COMMANDS])
def test_command_lines_parse(page: str, program: str, args: list[str]) -> None:
    parser = streamer_parser() if program == "streamer" else export_parser()
    try:
        parser.parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"{page}: `{program} {' '.join(args)}` does not parse") from exc
