# Production image (machines with Docker). Build from the repository root:
#   docker build -t flowcc .
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
# The API types are generated from the committed OpenAPI schema (npm run gen:api).
COPY docs/openapi.json /src/docs/openapi.json
RUN npm run build

FROM python:3.11-slim-bookworm
# Production, explicitly (it is also the default): FLOWCC_JWT_SECRET (or FLOWCC_JWKS_URL) and
# FLOWCC_PSEUDONYM_KEY must be given at run time; the service refuses to start without them.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FLOWCC_ENVIRONMENT=production
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY app/ app/
COPY consumers/ consumers/
RUN pip install --no-cache-dir -c constraints.txt .
COPY alembic.ini ./
COPY alembic/ alembic/
# Everything the default settings read: the economy and the OPEL profile.
COPY deploy/economies/ deploy/economies/
COPY deploy/escalation/ deploy/escalation/
COPY --from=frontend /src/frontend/dist frontend/dist
RUN useradd --system --uid 10001 flowcc
USER flowcc
EXPOSE 8000
CMD ["flowcc", "serve", "--host", "0.0.0.0", "--port", "8000"]
