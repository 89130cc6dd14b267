import { setTimeout as sleep } from 'node:timers/promises';
import { WebClient } from '@slack/web-api';
import pg from 'pg';
import { createSlackApiFetch } from '../src/slack/slack-api-fetch.ts';
import { SlackWebClient } from '../src/slack/slack-web-client.ts';
import { APPROVE } from '../src/slack/blocks/ids.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { SlackSender } from '../test/helpers/slack-sender.ts';
import { problemsLogged, waitForCount } from './ack-latency.ts';
import { BenchChild, cpuSecondsOf, memoryOf } from './child-processes.ts';
import { BENCH_APPROVAL_CHANNEL, BENCH_APPROVER, BENCH_BOT_TOKEN, BENCH_RESOURCE, BENCH_SIGNING_SECRET, makePendingRequests, requesterOf, startLatchStack, type LatchStack } from './latch-stack.ts';
import { runOpenLoop, statusOf } from './open-loop.ts';

/**
 * CPU per request: `latch web` gets `requests` signed slash commands, then as many Approve clicks,
 * at a fixed rate (its admission gate raised, so that on a busy machine work queues instead of
 * being refused), and the CPU time its process used (utime + stime from /proc/<pid>/stat) from the first request
 * until the work they started has finished (every request announced, or approved, and its Slack
 * calls made) is divided by the count. The same for the `latch worker` beside it, which posts the
 * Slack notices the commands and clicks queue (the approval message and DMs, the updates), and
 * their sum: what a command or click costs Latch in all. Beside them, in the same run, the bare
 * Bolt app that only acks (bench/bare-bolt-app.ts) under the same load: the floor of any Bolt app
 * on this machine.
 * A warm-up of each kind goes first, not counted, so the JIT has compiled the hot paths.
 *
 * CPU time, unlike latency, hardly depends on what else runs on the machine, so this is the
 * figure to compare across runs and branches.
 */
export interface CpuOptions {
  adminDatabaseUrl: string;
  /** Requests of each kind counted. */
  requests: number;
  /** Requests of each kind sent first and not counted. */
  warmup: number;
  /** Requests per second. */
  rate: number;
  say(line: string): void;
}

export interface CpuKindResult {
  /** CPU milliseconds per request: latch web, the latch worker's notices for it, and the bare Bolt app. */
  latchMs: number;
  workerMs: number;
  bareMs: number;
  /** Requests of the measured window that did not do their work: commands not stored and announced (refused as busy, or failed), clicks that approved nothing. */
  notTaken: number;
}

export interface CpuResult {
  command: CpuKindResult;
  click: CpuKindResult;
  /** CPU milliseconds per Web API call (chat.postMessage) in the calling process: Latch's client, and a default WebClient on Node's fetch. */
  slackCallMs: { latch: number; nodeFetch: number };
  /** Peak memory (VmHWM) after the run: latch web and the bare Bolt app. */
  peakMiB: { latch: number; bare: number };
  slackCalls: Record<string, number>;
  problems: Record<string, number>;
}

const REASON = 'investigating slow queries reported by support';

export async function runCpuPerRequest({ adminDatabaseUrl, requests, warmup, rate, say }: CpuOptions): Promise<CpuResult> {
  // Every request is taken, however slow a busy machine makes it: CPU per request is measured
  // here, not the admission gate (the ack section measures that).
  const stack = await startLatchStack({ adminDatabaseUrl, role: 'web', env: { LATCH_MAX_SLACK_WORK: '10000' }, say });
  const barePort = await freePort();
  const bare = new BenchChild('./bare-bolt-app.ts', { PORT: String(barePort), SLACK_SIGNING_SECRET: BENCH_SIGNING_SECRET, SLACK_BOT_TOKEN: BENCH_BOT_TOKEN, SLACK_API_URL: stack.slack.apiUrl });
  const probe = new pg.Client({ connectionString: stack.database.url, application_name: 'latch-bench-probe' });
  probe.on('error', () => undefined);
  try {
    await bare.next('ready');
    await probe.connect();
    const bareSender = new SlackSender(`http://127.0.0.1:${barePort}/slack/events`, BENCH_SIGNING_SECRET, (id) => stack.slack.responseUrl(id));
    const count = (sql: string) => probe.query<{ n: string }>(sql).then(({ rows }) => Number(rows[0]!.n));
    const announcedSql = 'SELECT count(*) AS n FROM access_requests WHERE approval_message_ts IS NOT NULL';
    const approvedSql = `SELECT count(*) AS n FROM access_requests WHERE state = 'approved'`;

    let refused = 0;
    const command = async (sender: SlackSender, i: number) => {
      const response = await sender.command(requesterOf(i), `${BENCH_RESOURCE} read 2h ${REASON} #${i}`);
      if (sender === stack.sender && /Latch is busy/.test(await response.clone().text())) refused += 1;
      return response;
    };
    /** Sends `total` requests from `first` at the rate; resolves once every one is answered. */
    const send = async (sender: SlackSender, first: number, total: number, request: (sender: SlackSender, i: number) => Promise<Response>) => {
      const result = await runOpenLoop({ rate, warmupMs: 0, durationMs: (total / rate) * 1000, send: (i) => statusOf(request(sender, first + i)) });
      if (result.failed) say(`  WARNING: ${result.failed} requests not answered 200: ${JSON.stringify(result.statuses)}`);
    };
    /** CPU milliseconds per request of `pid` while `total` requests are sent and their work settles. */
    const measure = async (pid: number | undefined, work: () => Promise<void>, total: number) => (await measureEach([pid], work, total))[0]!;
    /** The same for several processes over one run of `work`. */
    const measureEach = async (pids: Array<number | undefined>, work: () => Promise<void>, total: number) => {
      const before = pids.map(cpuSecondsOf);
      await work();
      return pids.map((pid, i) => ((cpuSecondsOf(pid) - before[i]!) * 1000) / total);
    };
    const latchPids = [stack.latch.pid, stack.worker?.pid];
    const latchSettled = (sql: string, expected: number) => async () => {
      await waitForCount(probe, sql, expected, 300_000);
      await slackCallsSettled(stack);
    };

    // Slash commands: each stores a request and posts its approval message.
    const commandKind = async (): Promise<CpuKindResult> => {
      await send(bareSender, 0, warmup, command);
      const bareMs = await measure(bare.pid, () => send(bareSender, warmup, requests, command), requests);
      await send(stack.sender, 0, warmup, command);
      await latchSettled(announcedSql, warmup - refused)();
      const announcedBefore = await count(announcedSql);
      const [latchMs, workerMs] = await measureEach(
        latchPids,
        async () => {
          await send(stack.sender, warmup, requests, command);
          await latchSettled(announcedSql, warmup + requests - refused)();
        },
        requests,
      );
      return { latchMs: latchMs!, workerMs: workerMs!, bareMs, notTaken: requests - ((await count(announcedSql)) - announcedBefore) };
    };
    const commands = await commandKind();
    say(`  slash command: ${spent(commands)} (${requests} counted at ${rate}/s after ${warmup} not counted; ${commands.notTaken} not stored and announced)`);

    // Approve clicks: each approves its own pending request (approval, audit, grant job, message updates).
    const pending = await makePendingRequests(stack, probe, warmup + requests, say);
    const { rows } = await probe.query<{ id: string }>(`SELECT id FROM access_requests WHERE state = 'pending' AND approval_message_ts IS NOT NULL ORDER BY created_at`);
    const ids = rows.map((row) => row.id);
    if (pending < warmup + requests) say(`  WARNING: only ${pending} pending requests to click on`);
    const click = (sender: SlackSender, i: number) => sender.click(BENCH_APPROVER, APPROVE, ids[i % ids.length]!, BENCH_APPROVAL_CHANNEL, 'latch_approval_actions:r1');
    await send(bareSender, 0, warmup, click);
    const bareClickMs = await measure(bare.pid, () => send(bareSender, warmup, requests, click), requests);
    await send(stack.sender, 0, warmup, click);
    await latchSettled(approvedSql, warmup)();
    const [latchClickMs, workerClickMs] = await measureEach(
      latchPids,
      async () => {
        await send(stack.sender, warmup, requests, click);
        await latchSettled(approvedSql, warmup + requests)();
      },
      requests,
    );
    const approved = (await count(approvedSql)) - warmup;
    const clicks = { latchMs: latchClickMs!, workerMs: workerClickMs!, bareMs: bareClickMs, notTaken: requests - approved };
    say(`  Approve click: ${spent(clicks)} (${requests} counted at ${rate}/s after ${warmup} not counted; ${clicks.notTaken} not approved)`);

    const slackCallMs = await slackCallCpu(stack.slack.apiUrl, requests);
    say(`  Slack Web API call (chat.postMessage, about ${requests} of each kind made from this process): ${slackCallMs.latch.toFixed(3)} ms CPU each through Latch's client, ${slackCallMs.nodeFetch.toFixed(3)} ms through a default WebClient on Node's fetch`);

    return {
      command: commands,
      click: clicks,
      slackCallMs,
      peakMiB: { latch: memoryOf(stack.latch.pid).hwmMiB, bare: memoryOf(bare.pid).hwmMiB },
      slackCalls: await stack.slack.counts(),
      problems: problemsLogged(`${stack.latch.stdout}\n${stack.worker?.stdout ?? ''}`),
    };
  } finally {
    await probe.end().catch(() => undefined);
    await bare.stop();
    await stack.stop();
  }
}

/** "latch web 2.10 ms CPU each, latch worker 1.20 ms, both 3.30 ms; bare Bolt 1.00 ms". */
function spent({ latchMs, workerMs, bareMs }: CpuKindResult): string {
  return `latch web ${latchMs.toFixed(2)} ms CPU each, latch worker ${workerMs.toFixed(2)} ms, both ${(latchMs + workerMs).toFixed(2)} ms; bare Bolt ${bareMs.toFixed(2)} ms`;
}

/** Until the fake Slack has seen no new call for half a second: the work after the acks is done. */
async function slackCallsSettled(stack: LatchStack): Promise<void> {
  let last = '';
  for (;;) {
    const now = JSON.stringify(await stack.slack.counts());
    if (now === last) return;
    last = now;
    await sleep(500);
  }
}

/**
 * CPU per Web API call on the calling side: posting an approval-sized message to the fake Slack
 * (its own process) through Latch's client (src/slack/slack-web-client.ts on Latch's fetch,
 * src/slack/slack-api-fetch.ts, metrics counting included) and through a default WebClient on
 * Node's fetch, alternately, 8 at a time, after a warm-up of each.
 */
async function slackCallCpu(apiUrl: string, calls: number): Promise<{ latch: number; nodeFetch: number }> {
  const ignore = () => undefined;
  const clients = {
    latch: new SlackWebClient(BENCH_BOT_TOKEN, { slackApiUrl: apiUrl, fetch: createSlackApiFetch({ apiUrl, metrics: { slackApiError: ignore, slackRateLimited: ignore } }) }),
    nodeFetch: new WebClient(BENCH_BOT_TOKEN, { slackApiUrl: apiUrl }),
  };
  const blocks = Array.from({ length: 6 }, (_, i) => ({ type: 'section', text: { type: 'mrkdwn', text: `*Field ${i}*\n${'some request detail '.repeat(8)}` } }));
  const post = async (client: WebClient, total: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next++ < total) await client.chat.postMessage({ channel: BENCH_APPROVAL_CHANNEL, text: 'Access request', blocks });
    }));
  };
  const cpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const spent = { latch: 0, nodeFetch: 0 };
  for (const name of ['latch', 'nodeFetch'] as const) await post(clients[name], 100);
  const perRound = Math.ceil(calls / 4);
  for (let round = 0; round < 4; round++) {
    for (const name of ['latch', 'nodeFetch'] as const) {
      const before = cpuMs();
      await post(clients[name], perRound);
      spent[name] += cpuMs() - before;
    }
  }
  return { latch: spent.latch / (perRound * 4), nodeFetch: spent.nodeFetch / (perRound * 4) };
}
