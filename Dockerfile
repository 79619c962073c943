# fullproxy: a full-proxy TCP + HTTP load balancer. Node runs the TypeScript sources directly
# (type stripping), so the image holds src/ as written and production dependencies only.
FROM node:24-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
# node@24 is a dependency so that `npm ci` on a bare machine brings the runtime; the image has
# Node already, so skip its install script and the download it would do.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY src ./src
COPY config ./config
COPY certs ./certs

# Non-root: binding ports below 1024 needs `--cap-add NET_BIND_SERVICE` or a high port mapping.
USER node

# Admin API (see config/fullproxy.json: admin.listen must be reachable inside the container).
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:9090/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "src/main.ts"]
CMD ["--config", "config/fullproxy.json"]
