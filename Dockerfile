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
# Stages: the project is installed into a virtual environment, and only that
# environment is carried into the slim runtime image. The GraphiQL/Swagger UI
# assets are committed in flrepo/static (checked against a fresh build of
# explorer/ by .ci/explorer.sh) and packaged with it, so the image serves
# everything offline and needs no Node.

ARG PYTHON_IMAGE=python:3.12-slim

# --- 1. Python build: install the project into /opt/flrepo ------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/flrepo
ENV PATH=/opt/flrepo/bin:$PATH
WORKDIR /src
# .dockerignore keeps local environments, caches and database dumps out of
# the context.
COPY . .
RUN pip install . \
    && cd / \
    && flrepo --help > /dev/null \
    && python -c "import pathlib, sys, flrepo; \
static = pathlib.Path(flrepo.__file__).parent / 'static'; \
sys.exit(0 if (static / 'manifest.json').is_file() else 'flrepo/static is not packaged')"

# --- 2. runtime --------------------------------------------------------------
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
    FLREPO_DATA_DIR=/data \
    FLREPO_ANONYMOUS_SCOPES=read,write

# FLREPO_ANONYMOUS_SCOPES=read,write: deployed FL components send no token and
# never check status codes, so the image accepts their writes as docker-compose.yml
# and the Helm chart do; deletes need a token. Override it with -e to narrow it.
# /data only matters when FLREPO_MONGODB_URL is unset (embedded development
# database); with a MongoDB URL the server writes nothing but temporary files.
WORKDIR /data
USER 10001:10001
EXPOSE 9012

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FLREPO_PORT', '9012') + '/healthz', timeout=4)"]

ENTRYPOINT ["flrepo", "serve", "--host", "0.0.0.0"]
