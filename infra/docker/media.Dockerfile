# stagedoor media image. Build context: the repository root (see /.dockerignore):
#   docker build -f infra/docker/media.Dockerfile -t stagedoor/media:local .
# Stages: prune (turbo prune: only media and the workspace packages it uses) → build (pnpm fetch
# from the pruned lockfile, offline install, tsc, pnpm deploy --prod) → runtime (slim Node, non-root,
# production dependencies only; no build tools, no npm, no secrets).

FROM node:24.22.3-bookworm-slim AS base
ENV CI=true TURBO_TELEMETRY_DISABLED=1
# The versions pinned in the root package.json (packageManager, devDependencies.turbo).
RUN npm install --global pnpm@12.4.2 turbo@2.11.11 && npm cache clean --force
WORKDIR /repo

FROM base AS prune
COPY . .
RUN turbo prune @stagedoor/media --docker --out-dir /out

FROM base AS build
# Dependencies first: this layer is rebuilt only when the pruned lockfile changes.
COPY --from=prune /out/pnpm-lock.yaml /out/pnpm-workspace.yaml /out/json/.npmrc ./
RUN pnpm fetch
COPY --from=prune /out/json/ ./
RUN pnpm install --frozen-lockfile --offline
COPY --from=prune /out/full/ ./
COPY tsconfig.base.json ./
RUN turbo run build --filter=@stagedoor/media
RUN pnpm --filter @stagedoor/media --prod deploy --offline /prod/media

FROM node:24.22.3-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=8081 HOST=0.0.0.0
# The app needs only `node`: drop npm, npx, corepack and yarn from the image.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
WORKDIR /app
# Owned by root and not writable by the app's user: the process can change nothing but /tmp.
COPY --from=build /prod/media ./
USER node
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8081) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The node flags of apps/media/package.json's start script (why: README, design notes: media).
CMD ["node", "--initial-old-space-size=64", "dist/server.js"]
