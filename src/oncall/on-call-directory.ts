import { PROVIDER_NAMES, type OnCallCondition, type OnCallFacts, type OnCallProvider } from '../domain/on-call.ts';
import type { Logger } from '../logging/logger.ts';
import type { OnCallAnswer, OnCallDirectory } from '../services/service-context.ts';
import { OnCallUnavailable } from './on-call-http.ts';
import { OpsgenieOnCall } from './opsgenie-on-call.ts';
import { PagerDutyOnCall } from './pagerduty-on-call.ts';
import type { OnCallSource } from './on-call-source.ts';

/**
 * How long one on-call check may take, all pages and both questions together. The request form
 * waits for it before Slack's 3 s run out; past it, people decide instead of the rule.
 */
export const DEFAULT_ON_CALL_TIMEOUT_MS = 2000;

const KEY_VARIABLE: Record<OnCallProvider, string> = { pagerduty: 'PAGERDUTY_API_KEY', opsgenie: 'OPSGENIE_API_KEY' };

/**
 * The on-call providers Latch can ask, by type. A provider without a key configured, one that is
 * down, slow or rate-limiting: each is an answer of its own (`unavailable`), never an exception, so
 * the caller fails closed with a reason people can read.
 */
export class ProviderOnCallDirectory implements OnCallDirectory {
  constructor(
    private readonly sources: Partial<Record<OnCallProvider, OnCallSource>>,
    private readonly logger: Logger,
    private readonly timeoutMs = DEFAULT_ON_CALL_TIMEOUT_MS,
  ) {}

  /** From the environment's keys (and, for tests against a fake, its base URLs). */
  static fromEnv(env: { PAGERDUTY_API_KEY?: string | undefined; PAGERDUTY_API_URL?: string | undefined; OPSGENIE_API_KEY?: string | undefined; OPSGENIE_API_URL?: string | undefined }, logger: Logger, timeoutMs?: number): ProviderOnCallDirectory {
    return new ProviderOnCallDirectory(
      {
        ...(env.PAGERDUTY_API_KEY ? { pagerduty: new PagerDutyOnCall(env.PAGERDUTY_API_KEY, env.PAGERDUTY_API_URL) } : {}),
        ...(env.OPSGENIE_API_KEY ? { opsgenie: new OpsgenieOnCall(env.OPSGENIE_API_KEY, env.OPSGENIE_API_URL) } : {}),
      },
      logger,
      timeoutMs,
    );
  }

  async check(condition: OnCallCondition, now: Date): Promise<OnCallAnswer> {
    const source = this.sources[condition.provider];
    if (!source) return { unavailable: `${KEY_VARIABLE[condition.provider]} is not set, so Latch cannot ask ${PROVIDER_NAMES[condition.provider]}` };
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const facts: OnCallFacts = await source.facts(condition, now, signal);
      return { facts };
    } catch (error) {
      if (error instanceof OnCallUnavailable) {
        this.logger.warn({ provider: condition.provider, problem: error.message }, 'on-call could not be checked');
        return { unavailable: error.message };
      }
      // Unexpected: logged with its stack (the key is in no message this code makes), and still fail closed.
      this.logger.error({ err: error, provider: condition.provider }, 'on-call check failed unexpectedly');
      return { unavailable: `${PROVIDER_NAMES[condition.provider]} could not be asked (an error in Latch)` };
    }
  }
}
