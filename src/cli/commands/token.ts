import { userInfo } from 'node:os';
import { loadPolicyOrFail } from '../load-policy.ts';
import { tokenEnvSchema } from '../../config/env.ts';
import { formatDuration, parseDuration } from '../../domain/duration.ts';
import type { MachinePolicy } from '../../domain/machine.ts';
import { workloadMatches } from '../../domain/oidc-claims.ts';
import type { Policy } from '../../domain/policy.ts';
import { endCliLogin } from '../../services/cli-logins.ts';
import { createMachineToken } from '../../services/create-machine-token.ts';
import { revokeMachineToken } from '../../services/revoke-machine-token.ts';
import { systemClock } from '../../services/service-context.ts';
import { createDatabase, type Database } from '../../store/database.ts';
import { listCollectedCliLogins } from '../../store/cli-logins.ts';
import { listMachineTokens, type MachineTokenRow } from '../../store/machine-tokens.ts';
import { CliError, EXIT, UsageError } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

/** How long a token lives unless `--expires` says otherwise, and the longest it may. */
const DEFAULT_EXPIRY_SECONDS = 30 * 24 * 3600;
const MAX_EXPIRY_SECONDS = 366 * 24 * 3600;

/** The audit trail's actor for what an operator did with the CLI: who ran it, as the OS knows them. */
function cliActor(): string {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // No user database in some containers: the actor stays anonymous but is still the CLI.
  }
  return `cli:${name}`;
}

async function withStore<T>(work: (db: Database, policy: Policy) => Promise<T>): Promise<T> {
  const env = readEnv(tokenEnvSchema);
  const policy = await loadPolicyOrFail(env.LATCH_POLICY_FILE, EXIT.config);
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 1 });
  try {
    return await work(db, policy);
  } finally {
    await db.$disconnect();
  }
}

/**
 * `latch token create <machine> [--expires 30d]`: prints a new API token for a machine of the
 * policy, once, on stdout (and what it is on stderr, so `TOKEN=$(latch token create …)` works).
 */
export async function tokenCreateCommand(machineId: string, expires: string | undefined): Promise<void> {
  let expiresInSeconds = DEFAULT_EXPIRY_SECONDS;
  if (expires !== undefined) {
    const parsed = parseDuration(expires);
    if (!parsed.ok) throw new UsageError(`--expires: ${parsed.message}`);
    if (parsed.seconds > MAX_EXPIRY_SECONDS) throw new UsageError(`--expires may be at most ${formatDuration(MAX_EXPIRY_SECONDS)}: a token that never needs renewing is a standing credential`);
    expiresInSeconds = parsed.seconds;
  }
  await withStore(async (db, policy) => {
    const created = await createMachineToken({ db, policy: () => policy, clock: systemClock }, { machineId, expiresInSeconds, actor: cliActor() });
    if (!created.ok) throw new CliError(created.refusal.message);
    process.stderr.write(`latch: token ${created.tokenId} for machine ${machineId}, expires ${created.expiresAt.toISOString()}; it is shown once, keep it in a secret store\n`);
    process.stdout.write(`${created.token}\n`);
  });
}

/** `latch token list [machine]`: every token with its state; never a secret, which is not stored. */
export async function tokenListCommand(machineId: string | undefined, now: Date = new Date()): Promise<void> {
  await withStore(async (db, policy) => {
    const tokens = await listMachineTokens(db, machineId);
    if (tokens.length === 0) process.stdout.write(machineId ? `no tokens for machine ${machineId}\n` : 'no tokens\n');
    for (const token of tokens) {
      const state = token.revokedAt
        ? `revoked ${token.revokedAt.toISOString()}`
        : token.expiresAt <= now
          ? `expired ${token.expiresAt.toISOString()}`
          : !policy.machines.some((machine) => machine.id === token.machineId)
            ? 'refused: the machine is no longer in the policy'
            : refusalOf(token, policy.machines.find((machine) => machine.id === token.machineId)!) ?? `valid until ${token.expiresAt.toISOString()}`;
      const source = token.source === 'oidc' ? `  exchanged for the OIDC token of ${token.oidcSubject ?? 'a workload'}` : '';
      process.stdout.write(`${token.id}  ${token.machineId}  created ${token.createdAt.toISOString()}  ${state}${source}\n`);
    }
    if (machineId !== undefined) return;
    // People's terminals too (`latch login`), so one command shows every token the API accepts.
    for (const login of await listCollectedCliLogins(db, now)) {
      const state = login.revokedAt ? `revoked ${login.revokedAt.toISOString()}` : `valid until ${login.tokenExpiresAt!.toISOString()}`;
      process.stdout.write(`${login.id}  person ${login.slackUserId}  created ${login.tokenIssuedAt!.toISOString()}  ${state}  \`latch login\` from ${login.clientAddress} (${login.clientName})\n`);
    }
  });
}

/** Why the API refuses a live token of a machine in the policy, as authenticateMachine decides; null when it accepts it. */
function refusalOf(token: MachineTokenRow, machine: MachinePolicy): string | null {
  if (machine.authentication.type !== (token.source === 'oidc' ? 'oidc' : 'token')) return `refused: the machine no longer authenticates with ${token.source === 'oidc' ? 'OIDC' : 'tokens'}`;
  if (machine.authentication.type === 'oidc' && (!token.oidcWorkload || !workloadMatches(machine.authentication, token.oidcWorkload))) return "refused: the machine's OIDC rules no longer accept its claims";
  return null;
}

/** `latch token revoke <id>`: refused from the next call on, in every process. */
export async function tokenRevokeCommand(tokenId: string): Promise<void> {
  await withStore(async (db, policy) => {
    const revoked = await revokeMachineToken({ db, policy: () => policy, clock: systemClock }, { tokenId, actor: cliActor() });
    if (!revoked.ok && revoked.refusal.code === 'not_found' && (await endCliLogin({ db, clock: systemClock }, { loginId: tokenId, actor: cliActor() }))) {
      process.stdout.write(`revoked the \`latch login\` ${tokenId}\n`);
      return;
    }
    if (!revoked.ok) throw new CliError(revoked.refusal.message);
    process.stdout.write(`revoked token ${revoked.tokenId} of machine ${revoked.machineId}\n`);
  });
}
