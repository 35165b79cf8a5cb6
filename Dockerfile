# bridge's image: the same for the web tier (gunicorn), the workers and the migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip install . && useradd --system --uid 10001 --home-dir /app bridge
COPY rules /etc/bridge/rules

ENV BRIDGE_RULES_DIR=/etc/bridge/rules
USER bridge
EXPOSE 8080
CMD ["gunicorn", "--config", "python:bridge.web.gunicorn_config", "bridge.web.wsgi:create()"]
