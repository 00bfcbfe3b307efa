FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Build from a copy of just what the package needs; the source is removed afterwards
# so the image holds only the installed package.
COPY pyproject.toml README.md /src/
COPY aim_identity /src/aim_identity
RUN pip install /src && rm -rf /src

RUN useradd --system --create-home --uid 10001 aim
USER aim
WORKDIR /home/aim

# Listen on all interfaces inside the container; AIM_PORT pinned so EXPOSE and the check agree.
ENV AIM_HOST=0.0.0.0 \
    AIM_PORT=8000
EXPOSE 8000

# slim has no curl; python's urllib does the job (non-2xx raises, so the check fails).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["aimctl", "serve"]
