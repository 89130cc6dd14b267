# syntax=docker/dockerfile:1
# Latch's image: `docker build -t latch .`, then `docker run --rm latch help`.
# docker-compose.yml runs it with PostgreSQL and Redis; see "Run it with Docker" in README.md.
# scripts/build-image-stages.mjs runs these stages' commands without Docker (none runs on the
# project's machines), and a test starts what it makes: keep to WORKDIR, ENV, COPY and RUN in stages.

ARG NODE_IMAGE=node:24-bookworm-slim

# build: every dependency (the Prisma CLI and the TypeScript compiler are devDependencies), the
# generated Prisma client, and the compiled JavaScript in dist/ (client included).
# --ignore-scripts: dependencies' install scripts are not needed, and Prisma's would try to download
# native engines Latch never uses; the project's own generation runs explicitly instead.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY scripts/prisma-generate.mjs ./scripts/
COPY src ./src
RUN npm run generate && npm run build

# runtime-deps: the production dependencies alone, which are all that running needs.
# --omit=optional too: @prisma/client names the Prisma CLI and TypeScript as optional peers, so npm
# marks them (with Studio, PGlite, React: about 250 MB) "dev or optional" and --omit=dev alone keeps
# them. The only other optional packages are msgpackr's native accelerator (msgpackr, under BullMQ,
# falls back to JavaScript) and pg's Cloudflare socket shim.
FROM ${NODE_IMAGE} AS runtime-deps
WORKDIR /app
ENV NODE_ENV=production \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts

# Final stage: only what running needs, never TypeScript sources, development tools (tools/), tests
# or benchmarks (test/unit/product-files.test.ts holds these COPY lines to that). The code stays
# owned by root and read-only to the process, which writes nothing to its file system: the root
# file system can be mounted read-only.
FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY prisma/migrations ./prisma/migrations
COPY prisma/app-role.sql ./prisma/
USER node
EXPOSE 3000
# Slim images have no curl: node asks GET /healthz, which every role (start, web, worker) answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The Node flags of bin/latch.js's first line (its shebang is not read when node is named here).
ENTRYPOINT ["node", "--max-semi-space-size=8", "--max-old-space-size=256", "bin/latch.js"]
CMD ["start"]
