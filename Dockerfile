# Salon on one GPU box: docker compose up -d (see compose.yaml and README "Run Salon on your server").
#
# Two stages: the first builds Salon's wheel from the checkout, the second installs it, with
# dependencies (torch with CUDA from PyPI), into /opt/salon on the CUDA runtime image.

FROM python:3.12-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY cogs cogs
COPY gpu_worker gpu_worker
COPY loopback loopback
RUN pip wheel --no-deps --quiet --wheel-dir /wheels .

FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/install-salon.sh /usr/local/bin/install-salon
COPY --from=wheel /wheels /wheels
RUN install-salon /opt/salon /wheels/salon-*.whl && rm -rf /wheels \
    && /opt/salon/bin/python -m bot --help >/dev/null

# Never root: the bot reads members' text and runs model code; a volume keeps its data.
RUN useradd --system --uid 10001 --create-home --home-dir /home/salon salon \
    && mkdir -p /data && chown salon:salon /data
USER salon
ENV PATH=/opt/salon/bin:$PATH \
    SALON_DATA_DIR=/data \
    HF_HOME=/data/huggingface
VOLUME /data
WORKDIR /home/salon

# Healthy while the heartbeat says: connected to Discord, at least one worker ready, beating.
# The start period covers a first start that downloads and loads a model.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10m --retries=3 CMD ["python", "-m", "bot", "health"]
# SIGTERM (docker stop) finishes delivering and requeues unfinished jobs; give it time.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
