import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Child processes of the benchmark: its own helper scripts run through tsx with an IPC channel,
 * and the memory of any process read from /proc.
 */

/** Resident memory of a process: VmHWM (the kernel's high-water mark) and VmRSS now, in MiB. */
export function memoryOf(pid: number | undefined): { hwmMiB: number; rssMiB: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { hwmMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
  } catch {
    return { hwmMiB: Number.NaN, rssMiB: Number.NaN };
  }
}

/** CPU time (user + system) a process has used so far, in seconds (Linux counts in 1/100 s). */
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * A script of bench/ run as its own Node process, talking over IPC: its TypeScript through tsx, or
 * with `plainNode` through Node's own type stripping, so nothing of tsx's loader (about 13 MiB
 * resident) counts in a baseline's memory.
 */
export class BenchChild {
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(script: string, env: Record<string, string>, options: { plainNode?: boolean } = {}) {
    const path = fileURLToPath(new URL(script, import.meta.url));
    this.child = spawn(process.execPath, [...(options.plainNode ? [] : ['--import', 'tsx']), path], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child.stderr!.on('data', (chunk) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(message: unknown): void {
    this.child.send(message as object);
  }

  on<T>(type: string, listener: (message: T) => void): void {
    this.child.on('message', (message: { type?: string }) => {
      if (message?.type === type) listener(message as T);
    });
  }

  /** The next message of `type`; fails if the child exits first or nothing comes in time. */
  next<T>(type: string, timeoutMs = 60_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${type} not received within ${timeoutMs} ms; stderr: ${this.stderr.trim()}`)), timeoutMs);
      const onMessage = (message: { type?: string }) => message?.type === type && done(undefined, message as T);
      const onExit = (code: number | null) => done(new Error(`the child exited (${code}) before ${type}; stderr: ${this.stderr.trim()}`));
      const done = (error?: Error, message?: T) => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        if (error) reject(error);
        else resolve(message!);
      };
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
