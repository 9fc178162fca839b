#!/usr/bin/env bash
# Lints the Helm chart and renders it with the configurations the chart
# supports (bundled MongoDB replica set of three or one members, with or without
# auth; external MongoDB by URL or existing Secret; seed job). Installs helm with
# `go install` when it is not on PATH. Prints nothing on success; on failure
# prints the failing command's output and exits non-zero.
set -euo pipefail

HELM_VERSION=v3.22.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart="$root/helm"

fail() {
    echo "helm.sh: $*" >&2
    exit 1
}

if ! command -v helm > /dev/null 2>&1; then
    command -v go > /dev/null 2>&1 || fail "helm is not installed and go is not available to install it"
    gobin=$(go env GOBIN)
    export PATH="${gobin:-$(go env GOPATH)/bin}:$PATH"
    if ! command -v helm > /dev/null 2>&1; then
        log=$(mktemp)
        if ! go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" > "$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            fail "go install of helm $HELM_VERSION failed"
        fi
        rm -f "$log"
        command -v helm > /dev/null 2>&1 || fail "helm was installed but is not on PATH"
    fi
fi

# Runs a command quietly, showing its output only when it fails.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        fail "failed: $*"
    fi
}

quiet helm lint --strict "$chart"
quiet helm template flrepo "$chart"
quiet helm template flrepo "$chart" \
    --set mongodb.enabled=false \
    --set externalMongodb.url=mongodb://mongodb.example.internal:27017
quiet helm template flrepo "$chart" \
    --set mongodb.enabled=false \
    --set externalMongodb.existingSecret=flrepo-mongodb
quiet helm template flrepo "$chart" --set seed.enabled=true
quiet helm template flrepo "$chart" --set mongodb.replicaCount=1
quiet helm template flrepo "$chart" --set mongodb.auth.enabled=false
quiet helm lint --strict "$chart" \
    --set mongodb.enabled=false \
    --set externalMongodb.existingSecret=flrepo-mongodb \
    --set seed.enabled=true
quiet helm lint --strict "$chart" \
    --set mongodb.enabled=false \
    --set externalMongodb.url=mongodb://mongodb.example.internal:27017 \
    --set seed.enabled=true \
    --set ingress.enabled=true \
    --set networkPolicy.enabled=true

# A chart without a MongoDB must refuse to render.
if helm template flrepo "$chart" --set mongodb.enabled=false > /dev/null 2>&1; then
    fail "the chart renders with mongodb.enabled=false and no external MongoDB"
fi
