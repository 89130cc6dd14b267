import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadPolicyFile } from '../config/policy-file.ts';
import { canonicalJson, sameProviderSettings, type Policy, type ProviderSettings, type ResourcePolicy } from '../domain/policy.ts';
import type { Logger } from '../logging/logger.ts';
import type { AccessProvider } from '../providers/provider.ts';
import { providerGuard } from '../providers/registry.ts';

export type ProviderBuild = { ok: true; providers: Map<string, AccessProvider> } | { ok: false; problems: string[] };
/** Builds one provider from settings alone (registry.ts createProvider, with the environment). */
export type SingleProviderBuild = (settings: ProviderSettings) => { ok: true; provider: AccessProvider } | { ok: false; problems: string[] };

export type ReloadResult = { outcome: 'reloaded'; version: string } | { outcome: 'unchanged' } | { outcome: 'refused'; problems: string[] };

/** How long a replaced provider stays open, for a grant or revoke already using it. */
const RETIRE_AFTER_MS = 60_000;
/**
 * How often the file is read and hashed. Polling the content survives editors' atomic renames,
 * and, unlike comparing stat results, has no window at start-up in which a change goes unseen.
 */
const WATCH_INTERVAL_MS = 1_000;

/**
 * The policy the running service uses, and the providers built from it. A new file replaces both
 * only when the whole file is valid and every provider it names can be built; otherwise the
 * service keeps the policy it has and says why in an error log, so an edit saved half-way or a
 * missing secret never takes Latch down or changes what it enforces. Providers whose settings did
 * not change are kept, connections and all; replaced ones are closed a minute later.
 */
export class PolicySource {
  private current: { policy: Policy; providers: Map<string, AccessProvider> };
  private readonly retired = new Set<AccessProvider>();
  /** Providers built from grants' recorded settings, by their canonical JSON; closed with the source. */
  private readonly recorded = new Map<string, AccessProvider>();
  private reloading: Promise<ReloadResult> | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The hash of the file content last acted on (loaded, or refused): each content is tried once. */
  private lastSeen: string;

  constructor(
    private readonly path: string,
    initial: { policy: Policy; providers: Map<string, AccessProvider> },
    private readonly buildProviders: (policy: Policy) => Promise<ProviderBuild>,
    private readonly logger: Logger,
    /** Without it, access whose provider left the policy cannot be revoked by Latch (alerted). */
    private readonly buildProvider?: SingleProviderBuild,
  ) {
    this.current = initial;
    this.lastSeen = initial.policy.version;
  }

  get policy(): Policy {
    return this.current.policy;
  }

  /** Looked up on every use, so a grant job started after a reload uses the new provider. */
  readonly providers = {
    get: (resourceId: string): AccessProvider | undefined => this.current.providers.get(resourceId),
    fromSettings: async (settings: ProviderSettings): Promise<AccessProvider | undefined> => this.providerForSettings(settings),
  };

  /**
   * A provider for settings a grant recorded: a resource's in force when one has the same
   * settings, else one built for them and kept, so access granted under an earlier policy can
   * still be revoked after a reload removed its resource or changed its provider.
   */
  private providerForSettings(settings: ProviderSettings): AccessProvider | undefined {
    const inForce = this.current.policy.resources.find((resource) => sameProviderSettings(resource.provider, settings));
    if (inForce) return this.current.providers.get(inForce.id);
    const key = canonicalJson(settings);
    const kept = this.recorded.get(key);
    if (kept) return kept;
    const built = this.buildProvider?.(settings);
    if (!built?.ok) {
      this.logger.error({ providerType: settings.type, problems: built?.problems ?? ['no provider builder'] }, 'cannot build the provider a grant was made with');
      return undefined;
    }
    this.recorded.set(key, built.provider);
    this.logger.warn({ providerType: settings.type }, 'built a provider from a grant\'s recorded settings: its resource is no longer in the policy as it was');
    return built.provider;
  }

  /** Reads the file again; one reload at a time (a signal during a reload waits for it). */
  reload(trigger: string): Promise<ReloadResult> {
    const run = (this.reloading ?? Promise.resolve()).then(() => this.load(trigger));
    this.reloading = run.finally(() => {
      if (this.reloading === run) this.reloading = null;
    });
    return run;
  }

  /** Reloads on SIGHUP and whenever the file's content changes; returns how to stop. */
  watch(): () => void {
    const onSignal = () => void this.reload('SIGHUP');
    process.on('SIGHUP', onSignal);
    let checking = false;
    const poll = setInterval(() => {
      if (checking) return;
      checking = true;
      void this.checkFile().finally(() => (checking = false));
    }, WATCH_INTERVAL_MS);
    poll.unref();
    return () => {
      process.off('SIGHUP', onSignal);
      clearInterval(poll);
    };
  }

  private async checkFile(): Promise<void> {
    const content = await readFile(this.path).catch(() => null);
    // A file missing for a moment (an editor's rename) is not a change; SIGHUP reports it if asked.
    if (content === null) return;
    const hash = createHash('sha256').update(content).digest('hex');
    if (hash === this.lastSeen) return;
    this.lastSeen = hash;
    await this.reload('file change');
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    const open = new Set([...this.current.providers.values(), ...this.retired, ...this.recorded.values()]);
    await Promise.all([...open].map((provider) => provider.close?.().catch(() => undefined)));
  }

  private async load(trigger: string): Promise<ReloadResult> {
    const loaded = await loadPolicyFile(this.path);
    if (!loaded.ok) return this.refuse(trigger, loaded.problems);
    const next = loaded.policy;
    if (next.version === this.current.policy.version) return { outcome: 'unchanged' };
    const built = await this.buildProviders(next);
    if (!built.ok) return this.refuse(trigger, built.problems);

    const previous = this.current;
    const providers = new Map<string, AccessProvider>();
    for (const resource of next.resources) {
      const kept = previous.providers.get(resource.id);
      const before = previous.policy.resources.find((candidate) => candidate.id === resource.id);
      const fresh = built.providers.get(resource.id)!;
      // A provider also holds what the policy protects (providerGuard): a change there replaces it too.
      if (kept && before && sameProvider(before, resource) && sameGuard(previous.policy, next, resource.provider.type)) {
        providers.set(resource.id, kept);
        void fresh.close?.().catch(() => undefined);
      } else providers.set(resource.id, fresh);
    }
    this.current = { policy: next, providers };
    this.lastSeen = next.version;
    const keptProviders = new Set(providers.values());
    for (const provider of previous.providers.values()) if (!keptProviders.has(provider)) this.retire(provider);
    this.logger.info(
      { trigger, policyVersion: next.version, previousVersion: previous.policy.version, resources: next.resources.length },
      `policy reloaded from ${this.path}`,
    );
    return { outcome: 'reloaded', version: next.version };
  }

  private refuse(trigger: string, problems: string[]): ReloadResult {
    this.logger.error(
      { trigger, problems, policyVersion: this.current.policy.version },
      `policy reload refused: ${this.path} has ${problems.length} problem(s); the policy in force stays`,
    );
    return { outcome: 'refused', problems };
  }

  private retire(provider: AccessProvider): void {
    this.retired.add(provider);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.retired.delete(provider);
      void provider.close?.().catch(() => undefined);
    }, RETIRE_AFTER_MS);
    timer.unref();
    this.timers.add(timer);
  }
}

function sameProvider(a: ResourcePolicy, b: ResourcePolicy): boolean {
  return sameProviderSettings(a.provider, b.provider);
}

function sameGuard(before: Policy, after: Policy, type: string): boolean {
  return JSON.stringify(providerGuard(before, type)) === JSON.stringify(providerGuard(after, type));
}
