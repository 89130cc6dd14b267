import type { Policy } from '../../src/domain/policy.ts';
import { createLogger } from '../../src/logging/logger.ts';
import type { SlackAccount, SlackProfile } from '../../src/domain/identity.ts';
import type { LatchEvent, LatchEventPublisher } from '../../src/services/latch-events.ts';
import type { Clock, GroupDirectory, ServiceContext, UserDirectory } from '../../src/services/service-context.ts';
import type { Database } from '../../src/store/database.ts';

/**
 * A clock the test moves by hand. A live one follows real time (for tests where BullMQ's own
 * timers run too) and still moves forward by hand on top of it.
 */
export class TestClock implements Clock {
  private offsetMs = 0;
  constructor(
    private current = new Date('2026-11-24T09:00:00.000Z'),
    private readonly live = false,
  ) {}
  static live(): TestClock {
    return new TestClock(new Date(), true);
  }
  now(): Date {
    return new Date((this.live ? Date.now() : this.current.getTime()) + this.offsetMs);
  }
  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}

/** A person of the workspace as Slack describes one: active, not a guest, their email confirmed. */
export const MEMBER_ACCOUNT: SlackAccount = { deleted: false, bot: false, guest: false, emailConfirmed: true, ofLatchTeam: true };

/** The profile of a person of the workspace; `account` changes what the test is about. */
export function memberProfile(id: string, email?: string, account: Partial<SlackAccount> = {}): SlackProfile {
  return { id, ...(email === undefined ? {} : { email }), account: { ...MEMBER_ACCOUNT, ...account } };
}

/** Slack profiles: everyone is a member with `<id in lower case>@example.com` unless the test says otherwise. */
export class TestUsers implements UserDirectory {
  readonly profiles = new Map<string, SlackProfile | null>();
  async profile(userId: string): Promise<SlackProfile | null> {
    return this.profiles.has(userId) ? this.profiles.get(userId)! : memberProfile(userId, `${userId.toLowerCase()}@example.com`);
  }
}

/** User group membership as the test declares it. */
export class TestGroups implements GroupDirectory {
  readonly members = new Map<string, string[]>();
  async memberGroups(userId: string, groups: readonly string[]): Promise<Set<string>> {
    return new Set(groups.filter((group) => this.members.get(group)?.includes(userId)));
  }
}

/**
 * Records what the use cases publish, in order. `failing` makes every publish throw after it is
 * recorded, as a notifier that cannot reach Slack or PostgreSQL would.
 */
export class RecordingEvents implements LatchEventPublisher {
  readonly published: LatchEvent[] = [];
  failing = false;
  async publish(event: LatchEvent): Promise<void> {
    this.published.push(event);
    if (this.failing) throw new Error('the notifier is down');
  }
  /** The events of one type, in order. */
  ofType<T extends LatchEvent['type']>(type: T): Array<Extract<LatchEvent, { type: T }>> {
    return this.published.filter((event): event is Extract<LatchEvent, { type: T }> => event.type === type);
  }
  /** Each event as [type, what it is about]: the grant for a revocation's alerts, the request otherwise. */
  heard(): Array<[LatchEvent['type'], string]> {
    return this.published.map((event) => [event.type, subjectOf(event)]);
  }
  /** Whether `type` was published about `subject`; events follow their commit, so a test sees the state a moment first. */
  has(type: LatchEvent['type'], subject: string): boolean {
    return this.heard().some(([name, about]) => name === type && about === subject);
  }
  clear(): void {
    this.published.length = 0;
  }
}

function subjectOf(event: LatchEvent): string {
  if (event.type === 'standing_access.changed') return 'standing access';
  if (event.type === 'digest.due') return event.name;
  return event.type === 'revocation.overdue' || event.type === 'revocation.recovered' ? event.grantId : event.requestId;
}

export function testServiceContext(db: Database, policy: Policy) {
  const granted: string[] = [];
  const clock = new TestClock();
  const groups = new TestGroups();
  const users = new TestUsers();
  const events = new RecordingEvents();
  const ctx: ServiceContext & { policyNow: Policy } = {
    db,
    policyNow: policy,
    policy: () => ctx.policyNow,
    clock,
    groups,
    users,
    access: { requestGrant: async (requestId) => void granted.push(requestId), scheduleRevocation: async () => undefined },
    events,
    logger: createLogger({ level: 'silent' }),
  };
  return { ctx, clock, groups, users, granted, events };
}
