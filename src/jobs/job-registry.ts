import type { QueuedJobDefinition } from './job-definition.ts';
import { announceMissedRequestsJob } from './definitions/announce-missed-requests.ts';
import { endOffCallAccessJob } from './definitions/end-off-call-access.ts';
import { endUsedAccessJob } from './definitions/end-used-access.ts';
import { expirePendingRequestsJob } from './definitions/expire-pending-requests.ts';
import { grantAccessJob } from './definitions/grant-access.ts';
import { notifyPeopleJob } from './definitions/notify-people.ts';
import { reconcileJob } from './definitions/reconcile.ts';
import { refreshOutdatedMessagesJob } from './definitions/refresh-outdated-messages.ts';
import { revokeGrantJob } from './definitions/revoke-grant.ts';
import { scanStandingAccessJob } from './definitions/scan-standing-access.ts';
import { sendDigestJob } from './definitions/send-digest.ts';
import { sendRemindersJob } from './definitions/send-reminders.ts';
import { sweepLapsedLoginsJob } from './definitions/sweep-lapsed-logins.ts';

/**
 * Every job Latch runs. The runner starts a worker for each queue named here and a schedule for
 * each scheduled job; the typed enqueue adds queued ones by name. Shutdown's log lists running
 * jobs in this order.
 */
export const JOB_REGISTRY = [
  grantAccessJob,
  revokeGrantJob,
  notifyPeopleJob,
  expirePendingRequestsJob,
  announceMissedRequestsJob,
  refreshOutdatedMessagesJob,
  reconcileJob,
  sendRemindersJob,
  scanStandingAccessJob,
  endUsedAccessJob,
  endOffCallAccessJob,
  sweepLapsedLoginsJob,
  sendDigestJob,
] as const;

export type RegisteredJob = (typeof JOB_REGISTRY)[number];

/** The jobs added on demand (by id), as opposed to by a schedule. */
export type QueuedJobName = Extract<RegisteredJob, { kind: 'queued' }>['name'];

/** The payload a queued job is added with: checked here at compile time, parsed again at run time. */
export type PayloadOf<Name extends QueuedJobName> = Extract<RegisteredJob, { name: Name }> extends QueuedJobDefinition<Name, infer Payload> ? Payload : never;

export function queuedJob<Name extends QueuedJobName>(name: Name): QueuedJobDefinition<Name, PayloadOf<Name>> {
  const definition = JOB_REGISTRY.find((candidate) => candidate.name === name);
  if (definition?.kind !== 'queued') throw new Error(`no queued job named ${name}`);
  return definition as unknown as QueuedJobDefinition<Name, PayloadOf<Name>>;
}
