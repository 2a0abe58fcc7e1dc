"""The GraphQL SDL in ``proto/graphql/schema.graphql``: export, drift and breaking changes.

``python -m preflog_gateway.sdl write`` regenerates the file; ``check`` fails on drift and
lists breaking changes (graphql-core's ``find_breaking_changes``: removed or renamed types,
fields, arguments, enum values, changed types) between the committed SDL and the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql import find_breaking_changes

from preflog_settings import load_settings

SDL_PATH = Path(__file__).resolve().parents[4] / "proto" / "graphql" / "schema.graphql"


def current_sdl() -> str:
    from preflog_gateway.graphql.schema import build_schema

    return build_schema(load_settings({})).as_str() + "\n"


def breaking_changes(old_sdl: str, new_sdl: str) -> list[str]:
    """Human-readable breaking changes from ``old_sdl`` to ``new_sdl``."""
    changes = find_breaking_changes(parse_sdl(old_sdl), parse_sdl(new_sdl))
    return [f"{c.type.name}: {c.description}" for c in changes]


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    sdl = current_sdl()
    if command == "write":
        SDL_PATH.parent.mkdir(parents=True, exist_ok=True)
        if SDL_PATH.exists() and (broken := breaking_changes(SDL_PATH.read_text(), sdl)):
            print("breaking changes (written anyway; review them):", *broken, sep="\n  ")
        SDL_PATH.write_text(sdl)
        print(f"wrote {SDL_PATH}")
        return 0
    committed = SDL_PATH.read_text() if SDL_PATH.exists() else ""
    broken = breaking_changes(committed, sdl) if committed else []
    if broken:
        print("breaking GraphQL changes:", *broken, sep="\n  ")
    if committed != sdl:
        print(f"{SDL_PATH} is out of date: run `python -m preflog_gateway.sdl write`")
        return 1
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
