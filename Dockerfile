# syntax=docker/dockerfile:1
# rendercli image: the CLI, the migrations and the rq render worker.
#
#   docker build -t rendercli:local .
#   docker run --rm rendercli:local                      # rendercli --help
#   docker run --rm rendercli:local rendercli --version
#
# docker-compose.yml runs it as `migrate`, `worker` and `cli` (see README, Team setup).

# ---- builder: the rendercli wheel plus wheels of all its dependencies -------------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# pyproject.toml names README.md as the package readme, so the build needs it.
COPY pyproject.toml README.md ./
COPY rendercli ./rendercli
# Dependencies are wheels too, so the final stage installs offline (--no-index) and
# never needs a compiler.
RUN pip wheel --wheel-dir /wheels .

# ---- final: slim runtime with Debian's ffmpeg, running as a non-root user -------------
FROM python:3.11-slim AS runtime

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# uid/gid 10001: unlikely to collide with a host user that owns bind-mounted files.
# /data/storage and /data/config exist in the image, owned by that user, so a fresh
# named volume mounted there (docker-compose.yml) starts out with that ownership too.
RUN groupadd --system --gid 10001 rendercli \
    && useradd --system --uid 10001 --gid rendercli --home-dir /data \
       --shell /usr/sbin/nologin rendercli \
    && mkdir -p /data/storage /data/config \
    && chown -R rendercli:rendercli /data

COPY --from=builder /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links=/tmp/wheels rendercli \
    && rm -rf /tmp/wheels

# RENDERCLI_FFMPEG: use Debian's ffmpeg, not the copy bundled with imageio-ffmpeg.
ENV PYTHONUNBUFFERED=1 \
    RENDERCLI_DATA_DIR=/data \
    RENDERCLI_STORAGE_DIR=/data/storage \
    RENDERCLI_FFMPEG=/usr/bin/ffmpeg

USER rendercli:rendercli
WORKDIR /data

# No ENTRYPOINT: compose runs `rendercli worker`, `rendercli db upgrade` and CLI commands.
CMD ["rendercli", "--help"]
