import { ok, type AccessProvider, type ProviderGrant, type ProviderResult } from '../../src/providers/provider.ts';

type Step = 'grant' | 'revoke';

/**
 * A provider whose target is a set in memory: `holds` answers what the target would. Tests queue
 * failures per operation, and can hold an operation open (`pause`) to interleave others with it.
 */
export class MemoryProvider implements AccessProvider {
  readonly type = 'memory';
  readonly access = new Set<string>();
  readonly calls: Array<{ op: Step; principal: string; role: string; grantId: string }> = [];
  private readonly failures: Record<Step, ProviderResult<never>[]> = { grant: [], revoke: [] };
  private gates: Partial<Record<Step, Promise<void>>> = {};

  holds(principal: string, role: string): boolean {
    return this.access.has(`${principal}/${role}`);
  }

  /** The next `times` calls of `op` fail with `result`. */
  failNext(op: Step, result: ProviderResult<never>, times = 1): void {
    for (let i = 0; i < times; i++) this.failures[op].push(result);
  }

  /** Calls of `op` wait until the returned function is called. */
  pause(op: Step): () => void {
    let release!: () => void;
    this.gates[op] = new Promise((resolve) => (release = resolve));
    return () => {
      delete this.gates[op];
      release();
    };
  }

  callsOf(op: Step): number {
    return this.calls.filter((call) => call.op === op).length;
  }

  async grant(grant: ProviderGrant): Promise<ProviderResult> {
    return this.run('grant', grant, () => this.access.add(`${grant.principal}/${grant.role}`));
  }

  async revoke(grant: ProviderGrant): Promise<ProviderResult> {
    return this.run('revoke', grant, () => this.access.delete(`${grant.principal}/${grant.role}`));
  }

  async check(grant: ProviderGrant): Promise<ProviderResult<boolean>> {
    return ok(this.holds(grant.principal, grant.role));
  }

  /** Who holds `role`, as a target that can list would answer (for the standing-access scan). */
  async list(role: string): Promise<ProviderResult<string[]>> {
    return ok([...this.access].filter((entry) => entry.endsWith(`/${role}`)).map((entry) => entry.slice(0, -role.length - 1)).sort());
  }

  private async run(op: Step, grant: ProviderGrant, apply: () => void): Promise<ProviderResult> {
    this.calls.push({ op, principal: grant.principal, role: grant.role, grantId: grant.grantId });
    await this.gates[op];
    const failure = this.failures[op].shift();
    if (failure) return failure;
    apply();
    return ok();
  }
}
