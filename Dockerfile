# syntax=docker/dockerfile:1
# Latch's image: `docker build -t latch .`, then `docker run --rm latch help`.
# docker-compose.yml runs it with PostgreSQL and Redis; see "Run it with Docker" in README.md.

ARG NODE_IMAGE=node:20-bookworm-slim

# deps: the production dependencies, which are all that running needs: tsx runs the TypeScript
# (bin/latch.js) and the Prisma client runs on its WebAssembly query compiler, both production
# dependencies. The devDependencies (typescript, vitest, types) are never installed.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
# --ignore-scripts: dependencies' install scripts are not needed (esbuild, under tsx, works
# without its own), and Prisma's would try to download native engines Latch never uses. The
# project's own postinstall, client generation, runs in the next stage.
RUN npm ci --omit=dev --ignore-scripts

# generate: the Prisma client, into src/store/generated (offline: see scripts/prisma-generate.mjs).
# It needs the Prisma CLI, package `prisma`, which is a production dependency and so also ends up
# in the image (about 230 MB with what it pulls in) although nothing at run time uses it: `latch
# migrate` runs the schema engine compiled to WebAssembly. Made a devDependency, it would drop out
# of the deps stage; this stage would then need `npm ci` with dev dependencies.
FROM deps AS generate
COPY prisma.config.ts ./
COPY prisma ./prisma
COPY scripts/prisma-generate.mjs ./scripts/
RUN npm run generate

# Final stage: only what running needs, never the development tools (tools/), tests or benchmarks
# (test/unit/product-files.test.ts holds these COPY lines to that). The code stays owned by root
# and read-only to the process; tsx keeps its cache under /tmp.
FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY prisma ./prisma
COPY src ./src
COPY --from=generate /app/src/store/generated ./src/store/generated
USER node
EXPOSE 3000
# Slim images have no curl: node asks GET /healthz, which every role (start, web, worker) answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The Node flags of bin/latch.js's first line (its shebang is not read when node is named here).
ENTRYPOINT ["node", "--max-semi-space-size=16", "bin/latch.js"]
CMD ["start"]
