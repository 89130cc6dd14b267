// Generates the Prisma client into src/store/generated. `prisma generate` does not use the native
// schema engine, but the CLI insists on finding one and would try to download it (impossible on
// air-gapped hosts): pointing PRISMA_SCHEMA_ENGINE_BINARY at any executable satisfies it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
const result = spawnSync(process.execPath, ['node_modules/prisma/build/index.js', 'generate'], {
  cwd: root,
  env,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
