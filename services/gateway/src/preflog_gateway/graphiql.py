"""GraphiQL served from the installation (no CDN): ``make graphiql`` vendors the npm
packages' browser builds into ``static/graphiql`` (see services/gateway/scripts)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from litestar import Router
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
ASSETS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql.min.css",
)
ASSETS_PATH = "/graphiql-assets"


def assets_present() -> bool:
    return all((STATIC_DIR / a).is_file() for a in ASSETS)


@cache
def graphiql_page() -> str:
    """The GraphiQL page, or a plain explanation when the assets were not vendored."""
    if not assets_present():
        return (
            "<!doctype html><title>Preflog GraphQL</title><p>GraphiQL assets are not installed."
            " Run <code>make -C services/gateway graphiql</code>. POST queries to /graphql.</p>"
        )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Preflog GraphiQL</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{ASSETS_PATH}/graphiql.min.css">
  <style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="{ASSETS_PATH}/react.production.min.js"></script>
  <script src="{ASSETS_PATH}/react-dom.production.min.js"></script>
  <script src="{ASSETS_PATH}/graphiql.min.js"></script>
  <script src="{ASSETS_PATH}/preflog-graphiql.js"></script>
</body>
</html>"""


def graphiql_assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH, directories=[STATIC_DIR], include_in_schema=False
    )
