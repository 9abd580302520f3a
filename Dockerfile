# One image for every KLINEO process (web, worker, beat, streams, sandbox).

# The charting library comes from npm (package-lock.json), never from the repository.
FROM node:20-slim AS browser-libs
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
COPY --from=browser-libs /build/node_modules/lightweight-charts/dist /app/node_modules/lightweight-charts/dist
RUN useradd --system --uid 10001 klineo \
    && mkdir -p /app/var && chown -R klineo /app/var \
    && SECRET_KEY=build-only KLINEO_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtYS1yZWFsLWtleS0wMDAwMDA= \
       DATABASE_URL=sqlite:////tmp/build.sqlite3 python manage.py collectstatic --noinput
USER klineo

EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "klineo.asgi:application"]
