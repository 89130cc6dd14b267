#!/usr/bin/env node
// The `latch` command. Latch runs its TypeScript sources through tsx (the generated Prisma client
// is TypeScript too), so there is no build step that can drift from the source.
import { register } from 'tsx/esm/api';

register();
const { runLatchCli } = await import('../src/cli/main.ts');
runLatchCli(process.argv.slice(2));
