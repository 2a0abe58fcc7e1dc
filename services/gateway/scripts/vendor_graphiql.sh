#!/usr/bin/env bash
# Vendors GraphiQL's browser builds from the npm registry into the gateway package, so the
# page at GET /graphql loads nothing from a CDN. Run at build time (needs npm and the registry).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/src/preflog_gateway/static/graphiql"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
# graphiql 3 ships a UMD build (graphql-js bundled in); React 18 still ships UMD builds.
npm install --no-audit --no-fund --ignore-scripts graphiql@3.8.3 react@18.3.1 react-dom@18.3.1 graphql@16.9.0 >/dev/null
cp node_modules/react/umd/react.production.min.js "$dest/"
cp node_modules/react-dom/umd/react-dom.production.min.js "$dest/"
cp node_modules/graphiql/graphiql.min.js "$dest/"
cp node_modules/graphiql/graphiql.min.css "$dest/"
echo "vendored GraphiQL into $dest"
