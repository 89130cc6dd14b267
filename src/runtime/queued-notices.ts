import { happensMoreThanOnce } from '../jobs/definitions/notify-people.ts';
import type { JobQueues } from '../jobs/job-queues.ts';
import { isRequestEvent, type LatchEvent, type LatchEventPublisher } from '../services/latch-events.ts';
import { latestEventSeq } from '../services/messages-shown.ts';
import type { Database } from '../store/database.ts';

/**
 * Where the use cases run by the Slack listeners of `latch web` publish: an event about a request
 * becomes a `notify` job (jobs/definitions/notify-people.ts) that a worker runs with the same Slack
 * notifier. The web process only acks, commits, queues and
 * answers the person (the `response_url` answer, the modal's update); the approval message, the
 * DMs and the rewrites that follow cost it nothing more, and a web process that dies after its
 * commit no longer takes them with it. What a worker's own jobs publish (grants, sweeps) does
 * not come here: the job context tells its notifier directly (startJobs). A revocation's does, in
 * a worker that runs the notify jobs, so a revoke job's slot never waits on Slack (issue 19).
 *
 * When the enqueue fails after the commit (Redis down), publishCommitted logs it and nothing is
 * posted now; the sweeps repair what people would miss: announce-missed-requests posts the approval
 * message and DM of a request still pending without one, refresh-outdated-messages rewrites a
 * message older than its request (messages_seq). An outcome DM is not repaired: it is lost as it
 * was when the web process died before posting it.
 */
export class QueuedNotices implements LatchEventPublisher {
  constructor(
    private readonly queues: Pick<JobQueues, 'enqueue'>,
    private readonly db: Database,
    /** For an event about no request (none that a listener makes): told in this process. */
    private readonly inProcess: LatchEventPublisher,
  ) {}

  async publish(event: LatchEvent): Promise<void> {
    if (!isRequestEvent(event)) return this.inProcess.publish(event);
    // Read after the commit, and only for an event that may happen again: the job's id then names
    // the version of the request it follows. A command or the deciding click costs no read.
    const seq = happensMoreThanOnce(event) ? { seq: String(await latestEventSeq(this.db, event.requestId)) } : {};
    await this.queues.enqueue('notify', { event, ...seq });
  }
}
