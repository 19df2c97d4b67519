# One image for web, workers and beat. GPU nodes build with
# --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 to get a CUDA build of PyTorch.
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_ENV=production \
    VAR_DIR=/srv/var MEDIA_ROOT=/srv/media STATIC_ROOT=/srv/static

# bubblewrap and iproute2: the grading sandbox (docs/sandbox.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap iproute2 libpq5 tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --extra-index-url "$TORCH_INDEX" -r requirements.txt

COPY . .
RUN DJANGO_SECRET_KEY=build-only DATABASE_URL=sqlite:////tmp/build.sqlite3 CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --home /srv app && mkdir -p /srv/var /srv/media && chown -R app /srv
USER app
EXPOSE 8000
CMD ["gunicorn", "courseapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--access-logfile", "-"]
