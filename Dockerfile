# syntax=docker/dockerfile:1
#
# stockd: build with `docker build -t stockd .`, run with
#   docker run -p 3000:3000 -e DATABASE_URL=postgres://user:pass@db:5432/stockd -e ADMIN_TOKEN=<16+ chars> stockd
# The container listens on 0.0.0.0, so the admin API needs ADMIN_TOKEN: without it the boot fails.
# Without DATABASE_URL it runs on embedded PGlite in /app/data/pglite (mount a volume there).
# Another config file: mount it and set CONFIG=/path/to/file.json.

# ---- build: full install, Prisma client generation, tsc -> dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV CI=true
# What `npm ci`'s postinstall (prisma generate) needs, copied first so the dependency layer is
# reused while only sources change.
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm ci
COPY . .
# Explicitly again: the generated client (src/db/generated, TypeScript) must match the schema
# being compiled. scripts/prisma-generate.mjs sets PRISMA_SCHEMA_ENGINE_BINARY, so the Prisma CLI
# does not try to download a schema engine.
RUN npm run generate && npm run build

# ---- runtime: production dependencies, compiled code, migrations, config ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: postinstall runs `prisma generate`, whose CLI is a devDependency; the client
# it generates is already compiled into dist/.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
# src/db/migrate.ts looks for ../../prisma/migrations from its own file: from dist/src/db/ that
# is dist/prisma/migrations.
COPY --from=build /app/prisma/migrations ./dist/prisma/migrations
COPY --from=build /app/config ./config
RUN mkdir -p /app/data && chown node:node /app/data
USER node
ENV CONFIG=config/production.example.json \
    HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself (graceful stop, exit 0). shutdown.graceMs (8 s in
# production.example.json) stays below `docker stop`'s default 10 s; raise both together.
CMD ["node", "dist/src/main.js"]
