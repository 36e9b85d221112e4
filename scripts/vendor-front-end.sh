#!/usr/bin/env bash
# Copies the browser files the server serves from node_modules into src/stratascope/api/static/vendor/
# (run by `npm install` / `npm ci` as the postinstall step). The copies are committed, so a running
# server needs neither node nor the internet: OpenSeadragon for the viewer, Swagger UI for /docs,
# Redoc for /redoc.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
vendor=src/stratascope/api/static/vendor
version() { node -p "'$1 ' + require('$1/package.json').version"; }

rm -rf "$vendor/openseadragon" && mkdir -p "$vendor/openseadragon"
cp node_modules/openseadragon/build/openseadragon/openseadragon.min.js node_modules/openseadragon/LICENSE.txt "$vendor/openseadragon/"
cp -r node_modules/openseadragon/build/openseadragon/images "$vendor/openseadragon/"
version openseadragon > "$vendor/openseadragon/VERSION"

rm -rf "$vendor/swagger-ui" && mkdir -p "$vendor/swagger-ui"
cp node_modules/swagger-ui-dist/{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE} "$vendor/swagger-ui/"
version swagger-ui-dist > "$vendor/swagger-ui/VERSION"

rm -rf "$vendor/redoc" && mkdir -p "$vendor/redoc"
cp node_modules/redoc/bundles/{redoc.standalone.js,redoc.standalone.js.LICENSE.txt} node_modules/redoc/LICENSE "$vendor/redoc/"
# the one URL the bundle loads from outside: the "API docs by Redocly" logo (an <img> that hides
# itself when it fails to load). Point it at nothing, so the page asks no third party for anything.
sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:,#' "$vendor/redoc/redoc.standalone.js"
! grep -q 'cdn.redoc.ly' "$vendor/redoc/redoc.standalone.js"
version redoc > "$vendor/redoc/VERSION"
