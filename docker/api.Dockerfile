# The api, the storefront service and the one-shot migration: Bun, the app, the generated Prisma client.
FROM oven/bun:1.4.5 AS build
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile
COPY prisma prisma
COPY prisma.config.ts ./
COPY scripts/prisma-generate.sh scripts/
RUN bash scripts/prisma-generate.sh

FROM oven/bun:1.4.5
WORKDIR /app
# NODE_ENV=production also puts Elysia on its production path (no rendering of rejected values).
ENV APP_ENV=production NODE_ENV=production HOST=0.0.0.0 PORT=3000
COPY --from=build /app/node_modules node_modules
COPY package.json bun.lock bunfig.toml tsconfig.json prisma.config.ts ./
COPY prisma prisma
COPY scripts/migrate.ts scripts/replay.ts scripts/
COPY src src
COPY storefront storefront
COPY --from=build /app/src/generated src/generated
USER bun
EXPOSE 3000
CMD ["bun", "src/main.ts"]
