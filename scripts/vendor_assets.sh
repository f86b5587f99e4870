#!/usr/bin/env bash
# Copies the npm-installed front-end libraries into the package's static folder.
set -euo pipefail
cd "$(dirname "$0")/.."
dst=src/vde/web/static/vendor
mkdir -p "$dst"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css "$dst/"
cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js "$dst/"
# axe-core: the accessibility checker the browser tests run on every page (same origin, so
# the pages' CSP lets the tests load it)
cp node_modules/axe-core/axe.min.js "$dst/"
