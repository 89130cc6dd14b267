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
 * How a machine proves who it is. Only `token` today (`latch token create`); workload identity
 * (OIDC claims) joins this union later.
 */
export type MachineAuthentication = { type: 'token' };

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
