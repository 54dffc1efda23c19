# The vigil image: one Python package, one console script (`vigil`), used by every vigil
# service in docker-compose.yml (demo set-up and workload, exporter, router, sink, audit
# sealer, maintainer).
# Configuration is NOT baked in: compose mounts the repository's config/ read-only, so the
# Docker stack and the native stack (`vigil up`) run on the very same files.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY vigil ./vigil
COPY exporter ./exporter
COPY router ./router
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app vigil \
    && install -d -o vigil -m 0700 /var/lib/vigil  # the sealer's checkpoint (a named volume)

USER vigil
ENTRYPOINT ["vigil"]
CMD ["--help"]
