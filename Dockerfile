# syntax=docker/dockerfile:1

# FL Repository server image.
#
#   docker build -t flrepo .
#   docker run --rm -p 9013:9012 -e FLREPO_MONGODB_URL=mongodb://mongo.example:27017 flrepo
#
# Without FLREPO_MONGODB_URL the server starts its embedded development
# database in /data (mount a volume there to keep it); docker-compose.yml and
# the Helm chart always give it a MongoDB.
#
# Stages: the explorer front end is built with Node, its static files are
# copied into the Python sources, the project is installed into a virtual
# environment, and only that environment is carried into the slim runtime
# image, so the image serves everything offline and holds no build tools.

ARG PYTHON_IMAGE=python:3.12-slim
ARG NODE_IMAGE=node:20-slim

# --- 1. front end: explorer/ -> flrepo/static -------------------------------
FROM ${NODE_IMAGE} AS explorer
WORKDIR /src/explorer
# The lock file alone decides the dependencies; copying it first keeps the
# `npm ci` layer cached while only the front-end sources change.
COPY explorer/package.json explorer/package-lock.json explorer/.npmrc ./
RUN npm ci --no-audit --no-fund
COPY explorer/ ./
# The build writes into ../flrepo/static, i.e. /src/flrepo/static.
RUN mkdir -p /src/flrepo/static && npm run build

# --- 2. Python build: install the project into /opt/flrepo ------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/flrepo
ENV PATH=/opt/flrepo/bin:$PATH
WORKDIR /src
# .dockerignore keeps local environments, caches, stale static builds and
# database dumps out of the context.
COPY . .
# The static files must be in place before `pip install .` so that they are
# packaged as flrepo/static package data.
COPY --from=explorer /src/flrepo/static/ flrepo/static/
RUN pip install . \
    && cd / \
    && flrepo --help > /dev/null \
    && python -c "import pathlib, sys, flrepo.cli; \
static = pathlib.Path(flrepo.cli.__file__).parent / 'static'; \
sys.exit(0 if static.is_dir() and any(static.iterdir()) else 'flrepo/static is not packaged')"

# --- 3. runtime --------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="FL Repository" \
      org.opencontainers.image.description="FL models, strategies, transformations and training results over GraphQL and the original REST API" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric UID/GID, so that Kubernetes can verify runAsNonRoot.
RUN groupadd --system --gid 10001 flrepo \
    && useradd --system --uid 10001 --gid flrepo --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin flrepo \
    && install -d -o flrepo -g flrepo -m 0750 /data

COPY --from=build /opt/flrepo /opt/flrepo

ENV PATH=/opt/flrepo/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLREPO_PORT=9012 \
    FLREPO_DATA_DIR=/data

# /data only matters when FLREPO_MONGODB_URL is unset (embedded development
# database); with a MongoDB URL the server writes nothing but temporary files.
WORKDIR /data
USER 10001:10001
EXPOSE 9012

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FLREPO_PORT', '9012') + '/healthz', timeout=4)"]

ENTRYPOINT ["flrepo", "serve", "--host", "0.0.0.0"]
