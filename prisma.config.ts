// Prisma CLI configuration. The URL lives here, not in schema.prisma (Prisma 7). `latch migrate`
// does not use the CLI: it runs the WASM schema engine, so it works where Prisma's native engine
// cannot be downloaded.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost/latch' },
});
