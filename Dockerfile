# The hub and the demo simulators in one image. `docker compose up` (compose.yaml) runs them together.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY adapters ./adapters
COPY sim ./sim
COPY scripts/build-console.mjs ./scripts/
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
WORKDIR /app
# The embedded journal (the default when no REDIS_URL is set) and the admin token a hub makes for itself live on a
# volume the hub's user may write.
ENV NODE_ENV=production HUB_HOST=0.0.0.0 HUB_PORT=8080 HUB_JOURNAL_DIR=/var/lib/hub/journal HUB_STATE_DIR=/var/lib/hub
RUN mkdir -p /var/lib/hub/journal && chown -R node:node /var/lib/hub
VOLUME ["/var/lib/hub"]
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY flows ./flows
COPY schemas ./schemas
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/hub.js", "run"]
