# fullproxy: a full-proxy TCP + HTTP load balancer.
#
# Two stages. The build stage installs the dev dependencies and bundles src/ into one ES module
# (`npm run build`, scripts/build.ts): every runtime dependency inside, nothing left to resolve.
# The final stage holds Node, tini, that bundle and the configs: no node_modules, no TypeScript
# (type stripping alone costs ~17 MB of RSS; README "Footprint").
#
# The Node version is the one package-lock.json pins (the `node` package); test/container.test.ts
# fails when the two differ. Override with --build-arg NODE_VERSION=... at your own risk.
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# node@24 is a dependency so that `npm ci` on a bare machine brings the runtime; the image has
# Node already, so skip install scripts (its download, esbuild's check: the binary comes with
# its platform package).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

FROM node:${NODE_VERSION}-slim
# tini as PID 1: it forwards every signal to node (SIGHUP reload, SIGTERM/SIGINT drain) and reaps
# zombies, so `docker kill -s HUP` and `kubectl exec ... kill -HUP 1` reach the proxy as shipped.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/dist ./dist
COPY config ./config
COPY certs ./certs

# Non-root: binding ports below 1024 needs `--cap-add NET_BIND_SERVICE` or a high port mapping.
USER node

# config/container.json: the http listener on 8080, the admin API on 0.0.0.0:9090 so that the
# HEALTHCHECK and a scraper reach it. Publish 9090 to 127.0.0.1 only, or set admin.token (README).
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM drains for up to drainTimeout (30 s by default): give `docker stop -t 40` or a
# terminationGracePeriodSeconds above it, or the drain is cut by SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "node", "dist/fullproxy.mjs"]
CMD ["--config", "config/container.json"]
