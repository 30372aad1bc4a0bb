# stagedoor gateway image. Build context: the repository root (see /.dockerignore):
#   docker build -f infra/docker/gateway.Dockerfile -t stagedoor/gateway:local .
# Stages: prune (turbo prune: only the gateway and the workspace packages it uses) → build (pnpm fetch
# from the pruned lockfile, offline install, tsc, pnpm deploy --prod) → runtime (slim Node, non-root,
# production dependencies only; no build tools, no npm, no secrets).

FROM node:24.22.3-bookworm-slim AS base
ENV CI=true TURBO_TELEMETRY_DISABLED=1
# The versions pinned in the root package.json (packageManager, devDependencies.turbo).
RUN npm install --global pnpm@12.4.2 turbo@2.11.11 && npm cache clean --force
WORKDIR /repo

FROM base AS prune
COPY . .
RUN turbo prune @stagedoor/gateway --docker --out-dir /out

FROM base AS build
# Dependencies first: this layer is rebuilt only when the pruned lockfile changes.
COPY --from=prune /out/pnpm-lock.yaml /out/pnpm-workspace.yaml /out/json/.npmrc ./
RUN pnpm fetch
COPY --from=prune /out/json/ ./
RUN pnpm install --frozen-lockfile --offline
COPY --from=prune /out/full/ ./
COPY tsconfig.base.json ./
RUN turbo run build --filter=@stagedoor/gateway
RUN pnpm --filter @stagedoor/gateway --prod deploy --offline /prod/gateway

FROM node:24.22.3-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0 DATA_DIR=/data
# The app needs only `node`: drop npm, npx, corepack and yarn from the image.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
    && mkdir -p /data && chown node:node /data && chmod 0700 /data
WORKDIR /app
# Owned by root and not writable by the app's user: the process can change nothing but /data and /tmp.
COPY --from=build /prod/gateway ./
USER node
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server.js"]
