# Airlock's image: one image, three roles (docker-compose.yml): `serve --no-worker` (the API),
# `worker --role control`, `worker --role execution`. Multi-stage: build with dev dependencies, run with production
# dependencies only, as a non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The postinstall fetches the Temporal CLI for `airlock dev`; a production image talks to a real cluster instead.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
# git and ssh: the git tools run the git binary on the execution workers.
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates curl \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
RUN useradd --uid 10001 --create-home airlock && mkdir -p /data && chown airlock /data
USER airlock
ENV AIRLOCK_DATA_DIR=/data
ENTRYPOINT ["node", "bin/airlock.js"]
CMD ["--help"]
