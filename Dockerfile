# actviz as a container.
#   docker build -t actviz .                              # embedded datasets only (synthetic 2-D, digits)
#   docker build -t actviz --build-arg BAKE_DATA=1 .      # + MNIST and FashionMNIST, checksum-verified
#   docker run --rm -p 8501:8501 actviz
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ACTVIZ_DATA_DIR=/app/data

WORKDIR /app

# Dependencies first, in their own layer, so code changes do not reinstall them.  torch comes from
# PyTorch's CPU index: PyPI's Linux wheel pulls several GB of CUDA libraries we never use.
COPY requirements.txt .
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir -r requirements.txt

# Optional datasets, baked in before the rest of the code so that code changes keep this layer.  The
# download verifies each file's MD5 and fails the build on a mismatch.
ARG BAKE_DATA=0
COPY actviz/__init__.py actviz/errors.py actviz/limits.py actviz/datasets.py ./actviz/
RUN mkdir -p /app/data \
 && if [ "$BAKE_DATA" = "1" ]; then \
      python -c "from actviz import datasets; [datasets.download(n) for n in ('mnist', 'fashion_mnist')]"; \
    fi

COPY app.py ./
COPY actviz ./actviz
COPY pages ./pages
COPY ui ./ui
COPY .streamlit ./.streamlit

RUN useradd --create-home --uid 10001 actviz && chown -R 10001:10001 /app/data
USER 10001

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"]
CMD ["python", "-m", "ui.launch", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
