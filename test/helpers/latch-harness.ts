import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { inject } from 'vitest';
import { AccessQueues } from '../../src/jobs/access-queues.ts';
import type { RevocationBackoff } from '../../src/jobs/revocation-backoff.ts';
import type { AccessProvider } from '../../src/providers/provider.ts';
import { startAccessJobs, type RunningAccessJobs } from '../../src/runtime/start-access-jobs.ts';
import type { AccessScheduler } from '../../src/services/service-context.ts';
import type { Policy } from '../../src/domain/policy.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { createLatch, type Latch } from '../../src/runtime/create-latch.ts';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { portOf, startHttpServer } from '../../src/slack/http-server.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from './fake-slack.ts';
import { interactionBody, postSignedToSlackApp, slashCommandBody } from './slack-signing.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';
import { TestClock, TestGroups } from './test-services.ts';

export const SIGNING_SECRET = 'harness-signing-secret-0123456789';
export const TEAM_ID = 'T0FAKE';

/**
 * A whole Latch in-process, as a person meets it through Slack: the real Bolt app behind Latch's
 * HTTP server, a migrated database of its own, the fake Slack Web API, a clock and user groups
 * the test controls, and helpers that send what Slack sends, signed as Slack signs it.
 */
export class LatchHarness {
  private triggers = 0;

  private constructor(
    readonly slack: FakeSlack,
    readonly latch: Latch,
    readonly db: Database,
    readonly clock: TestClock,
    readonly groups: TestGroups,
    readonly granted: string[],
    private readonly server: Server,
    private readonly testDb: TestDatabase,
    private readonly jobs: { queues: AccessQueues; running: RunningAccessJobs } | null,
  ) {}

  /**
   * With `provider`, approvals go to the real grant and revocation queues (on the test Redis,
   * under a prefix of their own) and every resource is served by that provider; without it, they
   * are only recorded in `granted`.
   */
  static async start(policy: Policy, options: { provider?: AccessProvider; revocationBackoff?: RevocationBackoff } = {}): Promise<LatchHarness> {
    const slack = await FakeSlack.start();
    const testDb = await createTestDatabase();
    const db = createDatabase({ databaseUrl: testDb.url, poolSize: 12 });
    const clock = options.provider ? TestClock.live() : new TestClock();
    const groups = new TestGroups();
    const granted: string[] = [];
    const logger = createLogger({ level: 'silent' });
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    const queues = options.provider ? new AccessQueues({ redisUrl: inject('redisUrl'), prefix, logger }) : null;
    const recorder: AccessScheduler = { requestGrant: async (id: string) => void granted.push(id), scheduleRevocation: async () => undefined };
    const latch = createLatch({
      db,
      policy: () => harness.policy,
      logger,
      botToken: slack.botToken,
      signingSecret: SIGNING_SECRET,
      slackApiUrl: slack.apiUrl,
      clock,
      groups,
      access: queues ?? recorder,
    });
    await latch.app.init();
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', slack: latch.receiver.requestListener, logger });
    let jobs: LatchHarness['jobs'] = null;
    if (queues && options.provider) {
      const provider = options.provider;
      const providers = new Map(policy.resources.map((resource) => [resource.id, provider]));
      const running = await startAccessJobs({ latch, queues, providers, databaseUrl: testDb.url, redisUrl: inject('redisUrl'), prefix, logger, concurrency: 4, ...(options.revocationBackoff ? { revocationBackoff: options.revocationBackoff } : {}) });
      jobs = { queues, running };
    }
    const harness = new LatchHarness(slack, latch, db, clock, groups, granted, server, testDb, jobs);
    harness.policy = policy;
    return harness;
  }

  policy!: Policy;

  get eventsUrl(): string {
    return `http://127.0.0.1:${portOf(this.server)}${SLACK_EVENTS_PATH}`;
  }

  async close(): Promise<void> {
    if (this.jobs) {
      await this.jobs.running.stop();
      await this.jobs.queues.close();
    }
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    await this.db.$disconnect();
    await this.slack.close();
    await this.testDb.drop();
  }

  /** `/request-access <text>` typed by `userId`. */
  command(userId: string, text = '', responseId = `cmd-${++this.triggers}`): Promise<Response> {
    const body = slashCommandBody({
      command: '/request-access',
      text,
      user_id: userId,
      user_name: 'someone',
      team_id: TEAM_ID,
      channel_id: 'C0GENERAL',
      trigger_id: this.trigger(),
      response_url: this.slack.responseUrl(responseId),
      api_app_id: 'A0LATCH',
    });
    return this.post(body);
  }

  /** A click on a button carrying `value`, in `channelId`, in the block `blockId` (the first revision's approval buttons unless given). */
  click(userId: string, actionId: string, value: string, channelId = 'C0APPROVALS', blockId = 'latch_approval_actions:r1'): Promise<Response> {
    return this.interact({
      ...this.blockAction(userId),
      channel: { id: channelId },
      container: { type: 'message', channel_id: channelId, message_ts: '1700000000.000100' },
      actions: [{ type: 'button', action_id: actionId, block_id: blockId, value, action_ts: '1700000000.000200' }],
    });
  }

  /** A choice in a select inside an open modal, as Slack sends it with `dispatch_action`. */
  selectInModal(userId: string, view: ModalLike, actionId: string, blockId: string, value: string): Promise<Response> {
    return this.interact({
      ...this.blockAction(userId),
      container: { type: 'view', view_id: view.id },
      view: { ...view, state: { values: { ...view.state.values, [blockId]: { [actionId]: { type: 'static_select', selected_option: { value } } } } } },
      actions: [{ type: 'static_select', action_id: actionId, block_id: blockId, selected_option: { value }, action_ts: '1700000000.000300' }],
    });
  }

  /** A modal submitted with `values` (block_id → action_id → element state). */
  submit(userId: string, view: ModalLike): Promise<Response> {
    return this.interact({ type: 'view_submission', user: { id: userId, team_id: TEAM_ID }, team: { id: TEAM_ID }, api_app_id: 'A0LATCH', view });
  }

  interact(payload: unknown): Promise<Response> {
    return this.post(interactionBody(payload));
  }

  post(body: string, options: { signingSecret?: string; timestamp?: number } = {}): Promise<Response> {
    return postSignedToSlackApp(this.eventsUrl, body, { signingSecret: options.signingSecret ?? SIGNING_SECRET, ...(options.timestamp ? { timestamp: options.timestamp } : {}) });
  }

  /** What every block_actions payload carries: who, where, and a fresh trigger. */
  private blockAction(userId: string) {
    return { type: 'block_actions', user: { id: userId, team_id: TEAM_ID }, team: { id: TEAM_ID }, api_app_id: 'A0LATCH', trigger_id: this.trigger() };
  }

  private trigger(): string {
    return `${++this.triggers}.${Date.now()}.trigger`;
  }
}

export interface ModalLike {
  id: string;
  hash?: string;
  callback_id: string;
  private_metadata?: string;
  state: { values: Record<string, Record<string, Record<string, unknown>>> };
  [key: string]: unknown;
}

/** The view Latch opened, as Slack would hand it back in a later payload. */
export function asOpenView(view: Record<string, unknown>, values: ModalLike['state']['values'] = {}): ModalLike {
  return { ...(view as object), id: String(view.id ?? 'V0'), hash: 'hash-1', callback_id: String(view.callback_id), state: { values } } as ModalLike;
}

export function textInput(value: string) {
  return { type: 'plain_text_input', value };
}

export function selected(value: string, type = 'static_select') {
  return { type, selected_option: { value } };
}
