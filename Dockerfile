# Production image (machines with Docker). Build from the repository root:
#   docker build -t flowcc .
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY app/ app/
COPY consumers/ consumers/
RUN pip install --no-cache-dir -c constraints.txt .
COPY alembic.ini ./
COPY alembic/ alembic/
COPY deploy/economies/ deploy/economies/
COPY --from=frontend /src/frontend/dist frontend/dist
RUN useradd --system --uid 10001 flowcc
USER flowcc
EXPOSE 8000
CMD ["flowcc", "serve", "--host", "0.0.0.0", "--port", "8000"]
