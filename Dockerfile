# driftstream worker image (also runs every other `driftstream` command).
#
#   docker build -t driftstream:0.1.0 .
#   docker run --rm -p 8080:8080 -e DRIFTSTREAM_KAFKA__BOOTSTRAP_SERVERS=kafka:9092 \
#       -e DRIFTSTREAM_REDIS__URL=redis://redis:6379/0 driftstream:0.1.0          # a worker
#   docker run --rm driftstream:0.1.0 status                                       # any command
#
# The default config is the commented example (deploy/config/driftstream.example.toml);
# mount your own and point DRIFTSTREAM_CONFIG at it, DRIFTSTREAM_* variables override it.

FROM python:3.11-slim AS build
WORKDIR /src
# Every dependency ships wheels for CPython 3.11 on manylinux; the compiler is for the
# package's own C parse extension (native/fastparse.c), in this build stage only.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY native ./native
COPY stream ./stream
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DRIFTSTREAM_CONFIG=/etc/driftstream/driftstream.toml \
    DRIFTSTREAM_WEB__HOST=0.0.0.0 \
    DRIFTSTREAM_WEB__PORT=8080
RUN groupadd --system --gid 10001 driftstream \
    && useradd --system --uid 10001 --gid driftstream --no-create-home \
       --home-dir /var/lib/driftstream --shell /usr/sbin/nologin driftstream \
    && mkdir -p /var/lib/driftstream /etc/driftstream \
    && chown driftstream:driftstream /var/lib/driftstream
COPY --from=build /install /usr/local
COPY deploy/config/driftstream.example.toml /etc/driftstream/driftstream.toml
# The service's home; faust's small data directory goes to $TMPDIR (/tmp), see runtime.py.
WORKDIR /var/lib/driftstream
USER 10001:10001
EXPOSE 8080
# /health is 503 on a Redis/Kafka outage or a stalled flush (see the README, "Worker").
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=4 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DRIFTSTREAM_WEB__PORT', '8080') + '/health', timeout=4)"]
ENTRYPOINT ["driftstream"]
CMD ["worker"]
