# The relay and the consumers: Node.js 24 (the Kafka client is a V8-API addon Bun cannot load),
# with @confluentinc/kafka-javascript built against Debian's libraries as scripts/setup.sh does.
# One image for both: the consumers run the default command, the relay `node relay/main.ts`.
# The relay runs scripts/kafka-tool.ts for the console's re-drives (src/infra/redrive-requests.ts).
FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ pkg-config libssl-dev zlib1g-dev libzstd-dev \
      libcurl4-openssl-dev liblz4-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN npm install -g bun@1.4.5 node-gyp@12
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile --production
RUN cd node_modules/@confluentinc/kafka-javascript && CKJS_LINKING=dynamic node-gyp rebuild

FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 zlib1g libzstd1 libcurl4 liblz4-1 libsasl2-2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV METRICS_HOST=0.0.0.0
COPY --from=build /app/node_modules node_modules
COPY package.json tsconfig.json ./
COPY src src
COPY consumers consumers
COPY relay relay
COPY scripts/kafka-tool.ts scripts/
COPY scripts/lib/help.ts scripts/lib/
USER node
CMD ["node", "consumers/consumer.ts"]
