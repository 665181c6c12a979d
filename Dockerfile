# actviz as a container.
#   docker build -t actviz .                              # embedded datasets only (synthetic 2-D, digits)
#   docker build -t actviz --build-arg BAKE_DATA=1 .      # + MNIST and FashionMNIST, checksum-verified
#   docker run --rm -p 8501:8501 actviz
# Air-gapped (no index, no Docker Hub): `make wheelhouse` fills ./wheelhouse, then
#   docker build --network none --build-arg BASE_IMAGE=<Debian bookworm + python3.11 image> \
#                --build-arg WHEELHOUSE=wheelhouse -t actviz .
# Hardened run: --read-only --tmpfs /tmp -v actviz-state:/app/state (see the README).
ARG BASE_IMAGE=python:3.11-slim

# Dependencies in a virtual environment of their own stage: the runtime stage copies only the
# environment, never the wheels, and code changes do not reinstall anything.
FROM ${BASE_IMAGE} AS deps
ARG WHEELHOUSE=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# With WHEELHOUSE unset this copies requirements.txt alone; with it, also every wheel in that folder.
COPY requirements.txt ${WHEELHOUSE} /tmp/deps/
# torch comes from PyTorch's CPU index: PyPI's Linux wheel pulls several GB of CUDA libraries we
# never use.  The wheelhouse already holds the CPU wheel (`make wheelhouse`).
RUN python3 -m venv /opt/venv \
 && if [ -n "$WHEELHOUSE" ]; then \
      /opt/venv/bin/pip install --no-index --find-links /tmp/deps -r /tmp/deps/requirements.txt; \
    else \
      /opt/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
      && /opt/venv/bin/pip install -r /tmp/deps/requirements.txt; \
    fi

FROM ${BASE_IMAGE}
# HOME on the /tmp tmpfs: Streamlit and torch write small files there, and the root filesystem may
# be read-only.  The server's options are environment variables, so `docker run -e
# STREAMLIT_SERVER_PORT=...` moves the server and its HEALTHCHECK together (e.g. with --network host).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    ACTVIZ_DATA_DIR=/app/data \
    ACTVIZ_STATE_DIR=/app/state \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_HEADLESS=true

WORKDIR /app
COPY --from=deps /opt/venv /opt/venv

# Optional datasets, baked in before the rest of the code so that code changes keep this layer.  The
# download verifies each file's MD5 and fails the build on a mismatch.
ARG BAKE_DATA=0
COPY actviz/__init__.py actviz/errors.py actviz/limits.py actviz/validate.py actviz/cache.py ./actviz/
COPY actviz/data ./actviz/data
RUN mkdir -p /app/data /app/state \
 && if [ "$BAKE_DATA" = "1" ]; then \
      python -c "from actviz.data import datasets; [datasets.download(n) for n in ('mnist', 'fashion_mnist')]"; \
    fi

# The application: one line per top-level folder the app imports or serves.
COPY app.py ./
COPY actviz ./actviz
COPY app_pages ./app_pages
COPY ui ./ui
COPY .streamlit ./.streamlit

# Bytecode compiled now, since a read-only container cannot write it; a numeric non-root user whose
# only writable places are /tmp and the state volume (plus /app/data without --read-only).
RUN python -m compileall -q /app \
 && useradd --uid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin actviz \
 && chown -R 10001:10001 /app/data /app/state
USER 10001
VOLUME ["/app/state"]

EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('STREAMLIT_SERVER_PORT', '8501'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/_stcore/health', timeout=4).status != 200)"]
CMD ["python", "-m", "ui.launch"]
