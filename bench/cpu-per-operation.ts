import { setTimeout as sleep } from 'node:timers/promises';
import { APPROVE } from '../src/slack/blocks/ids.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { SlackSender } from '../test/helpers/slack-sender.ts';
import { BenchChild, cpuSecondsOf } from './child-processes.ts';
import { BENCH_APPROVAL_CHANNEL, BENCH_APPROVER, BENCH_BOT_TOKEN, BENCH_RESOURCE, BENCH_SIGNING_SECRET, requesterOf, startLatchStack, type FakeSlackChild } from './latch-stack.ts';

/**
 * CPU per operation, closed loop: `count` slash commands (`/request-access prod-db read 2h …`,
 * each stored and announced: approval message and DM posted) and then as many Approve clicks on
 * the requests they made (each approved, its messages updated, the requester told), `clients` at
 * a time, to a real `latch web`; the same requests to the bare Bolt app that only acks. The CPU
 * each process used (/proc, user + system) from the first request until the last Slack call the
 * operations make has arrived, per operation: latch web, and the `latch worker` beside it that
 * posts the Slack notices the operations queue (their sum is what an operation costs Latch). Nothing is refused as busy at this pace, so every
 * operation is counted whole, its work after the ack included; CPU time, unlike latency, changes
 * little on a busy machine.
 */
export interface CpuOptions {
  adminDatabaseUrl: string;
  count: number;
  clients: number;
  say(line: string): void;
}

export interface CpuResult {
  latch: { commandMs: number; clickMs: number };
  worker: { commandMs: number; clickMs: number };
  bare: { commandMs: number; clickMs: number };
}

const REASON = 'investigating slow queries reported by support';

export async function runCpuPerOperation({ adminDatabaseUrl, count, clients, say }: CpuOptions): Promise<CpuResult> {
  const stack = await startLatchStack({ adminDatabaseUrl, role: 'web', say });
  const barePort = await freePort();
  const bare = new BenchChild('./bare-bolt-app.ts', { PORT: String(barePort), SLACK_SIGNING_SECRET: BENCH_SIGNING_SECRET, SLACK_BOT_TOKEN: BENCH_BOT_TOKEN, SLACK_API_URL: stack.slack.apiUrl });
  try {
    await bare.next('ready');
    const bareSender = new SlackSender(`http://127.0.0.1:${barePort}/slack/events`, BENCH_SIGNING_SECRET, (id) => stack.slack.responseUrl(id));
    // Answers carried in the ack (a command's answer goes there when ready within 1.5 s); the others come through response_url.
    let answeredInAck = 0;
    const command = async (sender: SlackSender, i: number) => {
      const acked = await sender.command(requesterOf(i), `${BENCH_RESOURCE} read 2h ${REASON} #${i}`);
      if ((await acked.clone().text()) !== '') answeredInAck += 1;
      return acked;
    };
    // Warm-up, not counted: the first requests load code and fill caches.
    await closedLoop(Math.min(count, 20), clients, (i) => command(stack.sender, count + i));
    await settled(stack.slack, { 'chat.postMessage': 0 });

    const pids = [stack.latch.pid!, stack.worker!.pid!];
    const [latchCommands, workerCommands] = await measuredEach(pids, async () => {
      const before = await stack.slack.counts();
      answeredInAck = 0;
      await closedLoop(count, clients, (i) => command(stack.sender, i));
      // Each command: its approval message and the requester's DM posted, and its answer (in the ack, or posted).
      await settled(stack.slack, { 'chat.postMessage': (before['chat.postMessage'] ?? 0) + 2 * count, response_url: (before.response_url ?? 0) + count - answeredInAck });
    });
    const ids = await pendingRequestIds(stack, count);
    const [latchClicks, workerClicks] = await measuredEach(pids, async () => {
      const before = await stack.slack.counts();
      await closedLoop(ids.length, clients, (i) => stack.sender.click(BENCH_APPROVER, APPROVE, ids[i]!, BENCH_APPROVAL_CHANNEL, 'latch_approval_actions:r1'));
      // Each click: the approval message and the DM updated, the outcome DM posted.
      await settled(stack.slack, { 'chat.update': (before['chat.update'] ?? 0) + 2 * ids.length, 'chat.postMessage': (before['chat.postMessage'] ?? 0) + ids.length });
    });
    const bareCommands = await measured(bare.pid!, () => closedLoop(count, clients, (i) => command(bareSender, i)));
    const bareClicks = await measured(bare.pid!, () => closedLoop(ids.length, clients, (i) => bareSender.click(BENCH_APPROVER, APPROVE, ids[i]!, BENCH_APPROVAL_CHANNEL, 'latch_approval_actions:r1')));
    return {
      latch: { commandMs: (latchCommands! * 1000) / count, clickMs: (latchClicks! * 1000) / ids.length },
      worker: { commandMs: (workerCommands! * 1000) / count, clickMs: (workerClicks! * 1000) / ids.length },
      bare: { commandMs: (bareCommands * 1000) / count, clickMs: (bareClicks * 1000) / ids.length },
    };
  } finally {
    await bare.stop();
    await stack.stop();
  }
}

/** CPU seconds the process used while `work` ran. */
async function measured(pid: number, work: () => Promise<unknown>): Promise<number> {
  return (await measuredEach([pid], work))[0]!;
}

/** CPU seconds each process used while `work` ran. */
async function measuredEach(pids: number[], work: () => Promise<unknown>): Promise<number[]> {
  const before = pids.map(cpuSecondsOf);
  await work();
  return pids.map((pid, i) => cpuSecondsOf(pid) - before[i]!);
}

/** `total` requests, `clients` in flight at a time, each answered before its client sends the next. */
async function closedLoop(total: number, clients: number, send: (i: number) => Promise<Response>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < total; i = next++) {
        const response = await send(i);
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`request ${i} was answered ${response.status}`);
      }
    }),
  );
}

/** Waits until the fake Slack has seen at least these calls and then nothing more for a second. */
async function settled(slack: FakeSlackChild, atLeast: Record<string, number>): Promise<void> {
  const deadline = Date.now() + 600_000;
  let last = '';
  let stableSince = Date.now();
  for (;;) {
    const counts = await slack.counts();
    const seen = JSON.stringify(counts);
    if (seen !== last) [last, stableSince] = [seen, Date.now()];
    const reached = Object.entries(atLeast).every(([method, n]) => (counts[method] ?? 0) >= n);
    if (reached && Date.now() - stableSince >= 1_000) return;
    if (Date.now() > deadline) throw new Error(`Slack calls did not reach ${JSON.stringify(atLeast)}: ${seen}`);
    await sleep(100);
  }
}

async function pendingRequestIds(stack: Awaited<ReturnType<typeof startLatchStack>>, count: number): Promise<string[]> {
  const pg = await import('pg');
  const client = new pg.default.Client({ connectionString: stack.database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(`SELECT id FROM access_requests WHERE state = 'pending' AND approval_message_ts IS NOT NULL ORDER BY created_at LIMIT $1`, [count]);
    return rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}
