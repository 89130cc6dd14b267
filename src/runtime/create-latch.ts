import type { Policy } from '../domain/policy.ts';
import { slackRequestSpan } from '../observability/slack-request-span.ts';
import type { Logger } from '../logging/logger.ts';
import type { LatchMetrics } from '../metrics/latch-metrics.ts';
import type { AccessProvider } from '../providers/provider.ts';
import type { LatchEventPublisher } from '../services/latch-events.ts';
import { systemClock, type Clock, type AccessScheduler, type GroupDirectory, type OnCallDirectory, type ServiceContext, type UserDirectory } from '../services/service-context.ts';
import { AdmissionGate } from '../slack/admission-gate.ts';
import { AppOriginCheck, learnAppIdentity } from '../slack/app-origin.ts';
import type { SeenSignatures } from '../slack/seen-signatures.ts';
import { createSlackApp, type SlackApp } from '../slack/app.ts';
import { registerApproveWithChangesListeners } from '../slack/listeners/approve-with-changes-listeners.ts';
import { registerDecisionListeners } from '../slack/listeners/decision-listeners.ts';
import { registerExtensionListeners } from '../slack/listeners/extension-listeners.ts';
import { registerBreakGlassListeners } from '../slack/listeners/break-glass-listeners.ts';
import { registerCliLoginListeners } from '../slack/listeners/cli-login-listeners.ts';
import { registerHomeListeners } from '../slack/listeners/home-listeners.ts';
import { HomePublisher } from '../slack/home-publisher.ts';
import { registerRequestListeners } from '../slack/listeners/request-listeners.ts';
import { SlackNotifier } from '../slack/notifier.ts';
import { InFlightWork } from './in-flight-work.ts';
import { SlackUsergroupDirectory } from '../slack/usergroup-directory.ts';
import { SlackUserDirectory } from '../slack/user-directory.ts';
import type { Database } from '../store/database.ts';

export interface LatchOptions {
  db: Database;
  policy: () => Policy;
  logger: Logger;
  botToken: string;
  signingSecret: string;
  /** An app-level token (xapp-): Slack's events arrive over Socket Mode. Never given to a worker. */
  appToken?: string | undefined;
  slackApiUrl?: string | undefined;
  /** Where approved requests and early ends are queued (the BullMQ queues, or a test's recorder). */
  access: AccessScheduler;
  /** Injected by tests; the system clock and Slack's user groups otherwise. */
  clock?: Clock;
  groups?: GroupDirectory;
  users?: UserDirectory;
  /** Who is on call (PagerDuty, Opsgenie), for on-call auto-approval rules; without it they fail closed. */
  onCall?: OnCallDirectory | undefined;
  /** The providers of the policy in force: requests are checked against their targets when made. */
  providers?: { get(resourceId: string): AccessProvider | undefined } | undefined;
  /** Decisions and Slack API errors and rate limits are counted here when given. */
  metrics?: LatchMetrics;
  /** Where the signatures of Slack's HTTP requests are remembered, so a replayed one is not processed. */
  seenSignatures: SeenSignatures;
  /** Listener work admitted at once before Slack requests are refused (DEFAULT_MAX_LISTENER_WORK); tests set it low. */
  maxListenerWork?: number | undefined;
  /**
   * Where the listeners' use cases publish, given the notifier: the queued notices in a Latch
   * process (wiring.ts); the notifier itself, in this process, unless given (the test harness).
   */
  events?: (notifier: SlackNotifier) => LatchEventPublisher;
  /** Tests only: see ServiceContext.minimumDurationSeconds. */
  minimumDurationSeconds?: number | undefined;
}

export interface Latch extends SlackApp {
  /**
   * Checks the bot token (Bolt's auth.test) and learns the workspace and app Latch is, from
   * Slack: until then every Slack payload is refused. Rejects with Slack's error when a call fails.
   */
  init(): Promise<void>;
  services: ServiceContext;
  /** Tells people in Slack what the use cases publish: the services' events. */
  notifier: SlackNotifier;
  /**
   * Slack events being handled, from Bolt's global middleware to the last listener's end. Bolt
   * acks before its listeners finish (they go on posting to Slack and writing PostgreSQL), so
   * shutdown waits for this, not only for the HTTP requests, before it closes PostgreSQL.
   */
  listenerWork: InFlightWork;
}

/**
 * The Slack side of a process, for wiring.ts (every role) and the test harness: the use cases'
 * context (its `events` go where `options.events` says, the Slack notifier unless told; its user
 * and group directories ask Slack), the Slack app with its middleware in the order a payload meets
 * it, and the listeners. The job
 * context extends this context (startJobs in wiring.ts); nothing else builds one.
 */
export function createLatch(options: LatchOptions): Latch {
  const { db, policy, logger } = options;
  const slack = createSlackApp({ botToken: options.botToken, signingSecret: options.signingSecret, appToken: options.appToken, apiUrl: options.slackApiUrl, logger, metrics: options.metrics, seenSignatures: options.seenSignatures });
  // Its calls are counted by the app's fetch, with the listeners' calls.
  const fastClient = SlackUsergroupDirectory.fastClient(options.botToken, options.slackApiUrl, slack.slackFetch);
  // Learned at init; the first middleware, and the profiles' workspace check, rely on it.
  const origin = new AppOriginCheck(logger);
  const notifier = new SlackNotifier(slack.app.client, { db, policy, logger });
  const services: ServiceContext = {
    db,
    policy,
    logger,
    clock: options.clock ?? systemClock,
    groups: options.groups ?? new SlackUsergroupDirectory(fastClient, logger),
    users: options.users ?? new SlackUserDirectory(fastClient, () => origin.teamId, logger),
    onCall: options.onCall,
    access: options.access,
    events: options.events?.(notifier) ?? notifier,
    metrics: options.metrics,
    ...(options.providers ? { providerFor: (resourceId: string) => options.providers!.get(resourceId) } : {}),
    minimumDurationSeconds: options.minimumDurationSeconds,
  };
  // First of all: a payload from another workspace or for another app goes no further.
  slack.app.use(origin.middleware);
  // A span for each request from here on: its use case, transactions, jobs and Slack calls are its children.
  slack.app.use(slackRequestSpan);
  const listenerWork = new InFlightWork();
  // Global middleware runs before every listener, whatever the transport; its next() resolves
  // once every listener for the event has finished.
  slack.app.use(({ next }) => listenerWork.track(next));
  // After the tracking, so shutdown also waits for a refusal still being told to the person.
  slack.app.use(new AdmissionGate({ maxInFlight: options.maxListenerWork, logger, metrics: options.metrics }).middleware);
  const listening = { services, home: new HomePublisher(slack.app.client, services, logger), logger, slackWorkInFlight: () => listenerWork.count };
  registerRequestListeners(slack.app, listening);
  registerDecisionListeners(slack.app, listening);
  registerApproveWithChangesListeners(slack.app, listening);
  registerExtensionListeners(slack.app, listening);
  registerBreakGlassListeners(slack.app, listening);
  registerCliLoginListeners(slack.app, listening);
  registerHomeListeners(slack.app, listening);
  const init = async (): Promise<void> => {
    await slack.app.init();
    origin.learn(await learnAppIdentity(slack.app.client));
  };
  return { ...slack, init, services, notifier, listenerWork };
}
