#!/usr/bin/env bash
# GraphiQL's browser assets in the gateway package (git-ignored build output): vendored from
# the npm registry when any is missing, quick when all are present. `make install` (and so
# `make run` and `make test`) and CI call it. It never fails: without npm or the registry the
# API works as ever, GET /graphql in a browser says how to add the assets, and the browser
# test skips with that reason.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
assets="$here/src/preflog_gateway/static/graphiql"
say() { echo "graphiql assets: $*"; }

missing=0
for f in react.production.min.js react-dom.production.min.js graphiql.min.js graphiql.min.css; do
  [ -s "$assets/$f" ] || missing=1
done
if [ "$missing" = 0 ]; then
  say "present"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  say "missing, and no npm to fetch them (GraphiQL at /graphql says so; the API works)"
  exit 0
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if "$here/scripts/vendor_graphiql.sh" >"$log" 2>&1; then
  say "vendored from the npm registry"
else
  say "vendoring failed (the API works without them). Last lines:"
  tail -n 5 "$log" | sed 's/^/  /'
fi
exit 0
