import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { inject } from 'vitest';
import { JOB_QUEUES } from '../../src/jobs/job-queue-specs.ts';
import { JobQueues } from '../../src/jobs/job-queues.ts';
import type { JobDefinition } from '../../src/jobs/job-definition.ts';
import type { RunningJobs } from '../../src/jobs/job-runner.ts';
import type { GrantRetryPolicy, RevocationBackoff } from '../../src/jobs/job-settings.ts';
import { announceMissedRequestsJob } from '../../src/jobs/definitions/announce-missed-requests.ts';
import { grantAccessJob } from '../../src/jobs/definitions/grant-access.ts';
import { notifyPeopleJob } from '../../src/jobs/definitions/notify-people.ts';
import { revokeGrantJob } from '../../src/jobs/definitions/revoke-grant.ts';
import { scanStandingAccessJob } from '../../src/jobs/definitions/scan-standing-access.ts';
import type { AccessProvider } from '../../src/providers/provider.ts';
import type { AccessScheduler, OnCallDirectory } from '../../src/services/service-context.ts';
import type { Policy } from '../../src/domain/policy.ts';
import { createLogger, type Logger } from '../../src/logging/logger.ts';
import type { LatchMetrics } from '../../src/metrics/latch-metrics.ts';
import { createLatch, type Latch } from '../../src/runtime/create-latch.ts';
import { QueuedNotices } from '../../src/runtime/queued-notices.ts';
import { startJobs } from '../../src/runtime/wiring.ts';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { portOf, startHttpServer } from '../../src/slack/http-server.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { testSeenSignatures } from './seen-signatures.ts';
import { FreezableProxy } from './freezable-proxy.ts';
import { PostgresStatementLog } from './postgres-statement-log.ts';
import { FakeSocketMode } from './fake-socket-mode.ts';
import { overSocketMode, SlackSender, type ModalLike } from './slack-sender.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';
import { TestClock, TestGroups } from './test-services.ts';

export const SIGNING_SECRET = 'harness-signing-secret-0123456789';
export const APP_TOKEN = 'xapp-1-A0LATCH-harness-app-token';
export { TEAM_ID } from './slack-sender.ts';

/**
 * A whole Latch in-process, as a person meets it through Slack: the real Bolt app behind Latch's
 * HTTP server, a migrated database of its own, the fake Slack Web API, a clock and user groups
 * the test controls, and helpers that send what Slack sends, signed as Slack signs it. With
 * `transport: 'socket-mode'` the same helpers send it as Socket Mode envelopes instead, through a
 * fake Socket Mode server Latch connects to (`socket`).
 */
export type { ModalLike } from './slack-sender.ts';

export class LatchHarness extends SlackSender {
  private constructor(
    readonly slack: FakeSlack,
    readonly latch: Latch,
    readonly db: Database,
    readonly clock: TestClock,
    readonly groups: TestGroups,
    readonly granted: string[],
    /** The fake Socket Mode server, in Socket Mode; null over HTTP. */
    readonly socket: FakeSocketMode | null,
    private readonly server: Server,
    private readonly testDb: TestDatabase,
    private readonly jobs: { queues: JobQueues; running: RunningJobs } | null,
  ) {
    super(`http://127.0.0.1:${portOf(server)}${SLACK_EVENTS_PATH}`, SIGNING_SECRET, (id) => slack.responseUrl(id), socket && overSocketMode(socket));
  }

  /**
   * With `provider`, approvals go to the real grant and revocation queues (on the test Redis,
   * under a prefix of their own) and every resource is served by that provider; without it, they
   * are only recorded in `granted`.
   */
  static async start(
    policy: Policy,
    options: {
      provider?: AccessProvider;
      /** With `provider`: resources served by another provider than it, by resource id. */
      providers?: Record<string, AccessProvider>;
      revocationBackoff?: RevocationBackoff;
      /** How often and how soon a failed grant job is retried (Latch's default unless given). */
      grantRetry?: GrantRetryPolicy;
      transport?: 'http' | 'socket-mode';
      /** Connections in Latch's pool (12 unless given). */
      poolSize?: number;
      /** The admission gate's bound on listener work (Latch's default unless given). */
      maxListenerWork?: number;
      metrics?: LatchMetrics;
      /** Latch reaches PostgreSQL through a proxy the test can freeze (`dbProxy`), as a stalled PostgreSQL. */
      stallableDatabase?: boolean;
      /** Latch reaches PostgreSQL through a proxy that logs every statement it sends (`statements`). */
      countStatements?: boolean;
      /** The shortest duration a request may ask for (a minute unless given): tests grant for seconds. */
      minimumDurationSeconds?: number;
      /**
       * The Slack notices of commands and clicks are queued as in a Latch process (QueuedNotices),
       * on this Redis, and posted only by the notice worker (`startNoticeWorker`); in this process
       * at once otherwise.
       */
      queuedNotices?: { redisUrl: string };
      /** Who is on call, for on-call auto-approval rules (a ProviderOnCallDirectory on the fake PagerDuty or Opsgenie). */
      onCall?: OnCallDirectory;
      /**
       * With `provider`: the jobs its worker runs, the grants and revocations unless given. With the
       * notify job among them, a revocation's notices are queued to it, as in `latch worker`.
       */
      workerJobs?: JobDefinition[];
      /** Where Latch logs; nowhere unless given. */
      logger?: Logger;
    } = {},
  ): Promise<LatchHarness> {
    const slack = await FakeSlack.start();
    const socket = options.transport === 'socket-mode' ? await FakeSocketMode.start() : null;
    if (socket) slack.acceptSocketMode(APP_TOKEN, () => socket.connectionUrl());
    const testDb = await createTestDatabase();
    let dbProxy: FreezableProxy | null = null;
    let databaseUrl = testDb.url;
    const statements = options.countStatements ? new PostgresStatementLog() : null;
    if (options.stallableDatabase || statements) {
      const target = new URL(testDb.url);
      dbProxy = await FreezableProxy.start({ host: target.hostname, port: Number(target.port) }, statements ?? undefined);
      target.port = String(dbProxy.port);
      databaseUrl = target.toString();
    }
    const db = createDatabase({ databaseUrl, poolSize: options.poolSize ?? 12 });
    const clock = options.provider ? TestClock.live() : new TestClock();
    const groups = new TestGroups();
    const granted: string[] = [];
    const logger = options.logger ?? createLogger({ level: 'silent' });
    const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
    const settings = {
      concurrency: 4,
      revokeConcurrency: 4,
      ...(options.grantRetry ? { grantRetry: options.grantRetry } : {}),
      ...(options.revocationBackoff ? { revocationBackoff: options.revocationBackoff } : {}),
    };
    const queues = options.provider ? new JobQueues({ redisUrl: inject('redisUrl'), prefix, logger, settings }) : null;
    const replays = testSeenSignatures();
    const noticeQueues = options.queuedNotices ? new JobQueues({ redisUrl: options.queuedNotices.redisUrl, prefix, logger, settings }) : null;
    const recorder: AccessScheduler = { requestGrant: async (id: string) => void granted.push(id), scheduleRevocation: async () => undefined };
    const latch = createLatch({
      db,
      policy: () => harness.policy,
      logger,
      botToken: slack.botToken,
      signingSecret: SIGNING_SECRET,
      ...(socket ? { appToken: APP_TOKEN } : {}),
      slackApiUrl: slack.apiUrl,
      clock,
      groups,
      access: queues ?? recorder,
      seenSignatures: replays.seen,
      // As `latch start` does: a request is checked against the provider's target when made.
      ...(options.provider ? { providers: { get: () => options.provider } } : {}),
      ...(options.maxListenerWork ? { maxListenerWork: options.maxListenerWork } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      minimumDurationSeconds: options.minimumDurationSeconds,
      ...(options.onCall ? { onCall: options.onCall } : {}),
      ...(noticeQueues ? { events: (notifier) => new QueuedNotices(noticeQueues, db, notifier) } : {}),
    });
    await latch.init();
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', slack: latch.transport.requestListener, logger });
    await latch.transport.connect();
    let jobs: LatchHarness['jobs'] = null;
    if (queues && options.provider) {
      const provider = options.provider;
      const providers = new Map(policy.resources.map((resource) => [resource.id, options.providers?.[resource.id] ?? provider]));
      // The grants and revocations only: a test runs the sweeps itself, when it means to.
      const running = await startJobs({ latch, queues, providers, databaseUrl, logger, definitions: options.workerJobs ?? [grantAccessJob, revokeGrantJob] });
      jobs = { queues, running };
    }
    const harness = new LatchHarness(slack, latch, db, clock, groups, granted, socket, server, testDb, jobs);
    harness.policy = policy;
    harness.dbProxy = dbProxy;
    harness.statements = statements;
    harness.replays = replays;
    harness.notices = noticeQueues && { queues: noticeQueues, databaseUrl, logger, running: null };
    return harness;
  }

  policy!: Policy;

  /** The test database's URL, as its owner (for `latch audit verify`, or to make other roles). */
  get databaseUrl(): string {
    return this.testDb.url;
  }
  /** With `stallableDatabase` or `countStatements`, what stands between Latch (and `db`) and PostgreSQL. */
  dbProxy: FreezableProxy | null = null;
  /** With `countStatements`, every statement Latch sent to PostgreSQL (its pool, its locks' connections). */
  statements: PostgresStatementLog | null = null;
  private replays: { close(): Promise<void> } | null = null;

  private notices: { queues: JobQueues; databaseUrl: string; logger: ReturnType<typeof createLogger>; running: RunningJobs | null } | null = null;

  /** With `queuedNotices`: a worker that runs the notify jobs (and nothing else) starts taking them. */
  async startNoticeWorker(): Promise<void> {
    if (!this.notices) throw new Error('start the harness with queuedNotices to run a notice worker');
    if (this.notices.running) return;
    const { queues, databaseUrl, logger } = this.notices;
    this.notices.running = await startJobs({ latch: this.latch, queues, providers: new Map(), databaseUrl, logger, definitions: [notifyPeopleJob] });
  }

  /** The notice worker stops, as a `latch worker` that went away; queued notices wait in Redis. */
  async stopNoticeWorker(): Promise<void> {
    await this.notices?.running?.stop();
    if (this.notices) this.notices.running = null;
  }

  /** With `queuedNotices`: the notify jobs waiting in Redis for a worker. */
  noticesWaiting(): Promise<number> {
    if (!this.notices) throw new Error('start the harness with queuedNotices to queue notices');
    return this.notices.queues.queue(JOB_QUEUES.notices).getJobCountByTypes('waiting', 'delayed', 'prioritized');
  }

  /** Runs the re-announce sweep as the notice worker would (with `queuedNotices`, once it has started). */
  async announceMissedRequests(): Promise<void> {
    if (!this.notices?.running) throw new Error('start the notice worker first');
    await this.notices.running.runNow(announceMissedRequestsJob);
  }

  /** Runs the standing-access sweep as a worker would (only with a provider). */
  async scanStandingAccess(): Promise<void> {
    if (!this.jobs) throw new Error('start the harness with a provider to scan');
    await this.jobs.running.runNow(scanStandingAccessJob);
  }

  async close(): Promise<void> {
    await this.latch.transport.disconnect();
    if (this.jobs) {
      await this.jobs.running.stop();
      await this.jobs.queues.close();
    }
    if (this.notices) {
      await this.stopNoticeWorker();
      await this.notices.queues.close();
    }
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    await this.db.$disconnect();
    await this.dbProxy?.close();
    await this.replays?.close();
    await this.slack.close();
    await this.socket?.close();
    await this.testDb.drop();
  }
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
