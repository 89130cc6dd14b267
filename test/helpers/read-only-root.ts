import type { LatchProcessOptions } from './latch-process.ts';

/** The unprivileged user a locked-down pod runs as (Debian's `nobody`). */
export const UNPRIVILEGED = { uid: 65534, gid: 65534 };

/**
 * How to start `command` (a program on PATH or a path, and its first arguments) the way a Kubernetes pod with `readOnlyRootFilesystem` and a
 * non-root user does: in a mount namespace of its own where `/` (and so /tmp, HOME and the
 * installation) is remounted read-only, as `nobody`. Needs root to set up (the CI machines run as
 * root); the process itself keeps no privilege. `unshare`, `sh` and `setpriv` each exec the next,
 * so the process id is latch's and signals reach it.
 */
export function readOnlyRootProgram(command: string[]): NonNullable<LatchProcessOptions['program']> {
  return {
    file: 'unshare',
    args: [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -o remount,bind,ro / && exec setpriv --reuid=${UNPRIVILEGED.uid} --regid=${UNPRIVILEGED.gid} --clear-groups "$@"`,
      'sh',
      ...command,
    ],
  };
}

/** The environment a locked-down process gets beside its configuration: a HOME and TMPDIR it cannot write. */
export const UNWRITABLE_HOME = { HOME: '/nonexistent', TMPDIR: '/tmp' };
