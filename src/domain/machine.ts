/**
 * Machines as requesters: a deploy pipeline or an AI agent that asks for access through the API,
 * while people still decide in Slack. A machine has a human owner, who is shown on every request
 * it makes and told of every outcome, and it can never approve or review anything.
 *
 * Inside Latch a machine is a requester id of its own kind, `machine:<id>`: requests, locks,
 * limits and audit events treat it as any requester. Slack ids never contain `:`, so the two kinds
 * of requester can never be confused.
 */

/** Who answers for a machine: a Slack user (U…/W…) or a Slack user group (S…). */
export type MachineOwner = { user: string } | { group: string };

/**
 * How a machine proves who it is: a token an operator made (`latch token create`), or workload
 * identity, an OIDC token its platform (GitHub Actions, …) issues to the running job, exchanged
 * at `POST /api/v1/oidc/token` for a short-lived Latch token.
 */
export type MachineAuthentication = { type: 'token' } | OidcAuthentication;

export interface OidcAuthentication {
  type: 'oidc';
  /** The issuer's URL exactly as its tokens' `iss` says, e.g. https://token.actions.githubusercontent.com. */
  issuer: string;
  /** The `aud` the job asks its platform for; a token for another audience is not for Latch. */
  audience: string;
  /** Claim name → the values it may have (exact or `*` globs, see oidc-claims.ts); every claim must match one. */
  claims: Readonly<Record<string, readonly string[]>>;
}

export interface MachinePolicy {
  /** The id tokens are issued for and policies name, e.g. `deploy-pipeline`. */
  id: string;
  description?: string;
  owner: MachineOwner;
  authentication: MachineAuthentication;
  /**
   * The account providers grant to for this machine (a database role, …): a machine has no Slack
   * profile to derive one from. Checked like a person's (permanent holders, privileged accounts).
   */
  account: string;
}

const MACHINE_PREFIX = 'machine:';

/** The requester id a machine's requests are stored under. */
export function machineRequesterId(machineId: string): string {
  return `${MACHINE_PREFIX}${machineId}`;
}

/** The machine id behind a requester id, or null when the requester is a person. */
export function machineIdOf(requesterId: string): string | null {
  return requesterId.startsWith(MACHINE_PREFIX) ? requesterId.slice(MACHINE_PREFIX.length) : null;
}

export function isMachineRequester(requesterId: string): boolean {
  return requesterId.startsWith(MACHINE_PREFIX);
}

export function findMachine(machines: readonly MachinePolicy[], machineId: string): MachinePolicy | undefined {
  return machines.find((machine) => machine.id === machineId);
}

/** The user group that answers for a machine, if a group does: its members own the machine too. */
export function ownerGroupOf(machine: MachinePolicy): string | null {
  return 'group' in machine.owner ? machine.owner.group : null;
}

/**
 * Whether `personId` answers for `machine`: its owner, or a member of its owning user group
 * (`personGroups`: which of the groups asked about the person is in, ownerGroupOf's among them).
 */
export function ownsMachine(machine: MachinePolicy, personId: string, personGroups: ReadonlySet<string>): boolean {
  return 'user' in machine.owner ? machine.owner.user === personId : personGroups.has(machine.owner.group);
}
