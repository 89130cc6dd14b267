import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const RUN_COMMAND_LINE = fileURLToPath(new URL('../../../dist/cli/run-command-line.js', import.meta.url));
const OUTPUT_BYTES = 4 * 1024 * 1024;

describe('a command line run by runCommandLine (latch, and the tools that follow it)', () => {
  it('exits only once its output is out, however far behind the pipe it writes to is read', async () => {
    // A command that writes 4 MiB to stdout without waiting for the pipe, then returns: the pipe
    // takes 64 KiB, and the rest waits in the process until someone reads.
    const program = `import { runCommandLine } from ${JSON.stringify(RUN_COMMAND_LINE)};
      runCommandLine('test', 'usage', async () => { process.stdout.write('x'.repeat(${OUTPUT_BYTES})); });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(child, 'exit');
    // Nobody reads for a while: a process that exited meanwhile dropped what the pipe had not taken.
    await Promise.race([exited, sleep(2_000)]);
    let received = 0;
    child.stdout.on('data', (chunk: Buffer) => (received += chunk.length));
    const [code] = await exited;
    if (!child.stdout.readableEnded) await once(child.stdout, 'end');
    expect(code).toBe(0);
    expect(received).toBe(OUTPUT_BYTES);
  });
});
