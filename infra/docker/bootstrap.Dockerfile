# stagedoor bootstrap image: the one-shot that prepares the object store. Build context: the repository
# root (see /.dockerignore):
#   docker build -f infra/docker/bootstrap.Dockerfile -t stagedoor/bootstrap:local .
# It holds the fixtures package (stagedoor-seed: bucket + demo media with the `minio` client, the same
# code `pnpm start` runs) and ensure-bucket.mjs (production: the bucket only, never demo data).
# Stages as in gateway.Dockerfile: prune → build (fetch, offline install, tsc, deploy --prod) → runtime.

FROM node:24.22.3-bookworm-slim AS base
ENV CI=true TURBO_TELEMETRY_DISABLED=1
# The versions pinned in the root package.json (packageManager, devDependencies.turbo).
RUN npm install --global pnpm@12.4.2 turbo@2.11.11 && npm cache clean --force
WORKDIR /repo

FROM base AS prune
COPY . .
RUN turbo prune @stagedoor/fixtures --docker --out-dir /out

FROM base AS build
COPY --from=prune /out/pnpm-lock.yaml /out/pnpm-workspace.yaml /out/json/.npmrc ./
RUN pnpm fetch
COPY --from=prune /out/json/ ./
RUN pnpm install --frozen-lockfile --offline
COPY --from=prune /out/full/ ./
COPY tsconfig.base.json ./
RUN turbo run build --filter=@stagedoor/fixtures
RUN pnpm --filter @stagedoor/fixtures --prod deploy --offline /prod/bootstrap

FROM node:24.22.3-bookworm-slim AS runtime
ENV NODE_ENV=production
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
WORKDIR /app
COPY --from=build /prod/bootstrap ./
COPY infra/docker/ensure-bucket.mjs ./
USER node
# A one-shot job, not a server: nothing to probe. Compose waits for it to exit 0.
HEALTHCHECK NONE
# package.json "bin": stagedoor-seed → dist/seed-cli.js (refuses NODE_ENV=production with exit 78).
CMD ["node", "dist/seed-cli.js"]
