import { readFileSync } from 'node:fs';
import parseDuration from 'parse-duration';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_SHUTDOWN_TIMEOUT_SECONDS } from '../../../src/config/env.ts';

interface Compose {
  services: Record<string, { stop_grace_period?: string; environment?: Record<string, string> }>;
}

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8')) as Compose;

  it("lets Latch finish its own bounded shutdown before Docker kills it, with time to close and exit", () => {
    const latch = compose.services.latch!;
    const boundSeconds = Number(latch.environment?.LATCH_SHUTDOWN_TIMEOUT_SECONDS ?? DEFAULT_SHUTDOWN_TIMEOUT_SECONDS);
    const graceMs = parseDuration(latch.stop_grace_period ?? '10s');
    expect(graceMs).toBeGreaterThanOrEqual((boundSeconds + 5) * 1000);
  });
});
