import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { APPROVE } from '../src/slack/blocks/ids.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { SlackSender } from '../test/helpers/slack-sender.ts';
import { BenchChild, cpuSecondsOf, memoryOf } from './child-processes.ts';
import { BENCH_APPROVAL_CHANNEL, BENCH_APPROVER, BENCH_BOT_TOKEN, BENCH_RESOURCE, BENCH_SIGNING_SECRET, makePendingRequests, requesterOf, startLatchStack, type LatchStack } from './latch-stack.ts';
import { LoopProbe, loopSummaryLines, summarizeProbe, type LoopSummary } from './loop-probe-summary.ts';
import { runOpenLoop, statusOf, type OpenLoopResult } from './open-loop.ts';

/**
 * Ack latency under load: `/request-access prod-db read 2h <reason>` (which, with its arguments,
 * creates the request at once: no modal) and Approve clicks on pending requests, sent open-loop
 * at a fixed rate and signed as Slack signs them, to a real `latch web` process and, in the same
 * run, to a bare Bolt app that only acks (bench/bare-bolt-app.ts). Each runs in a process of its
 * own, as does the fake Slack Latch talks to, so only the machine is shared.
 *
 * The Approve clicks go to the requests the slash-command phase created, once every one of them
 * has its approval message: each click approves one request (one approver is required), which
 * stores the decision and its audit event, queues the grant and updates the messages.
 */
export interface AckOptions {
  adminDatabaseUrl: string;
  rate: number;
  warmupS: number;
  seconds: number;
  /** Only the slash commands (the memory section's web load). */
  commandsOnly?: boolean;
  /**
   * Load the event-loop probe (bench/event-loop-probe.ts) into latch web and the bare Bolt app
   * and say where each phase's slow answers went (BENCH_ACK_PROBE=1). Off by default: its timer and
   * /proc reads cost latch web 0.1-0.3 ms of CPU a request in two back-to-back pairs (BENCHMARKS.md,
   * "Where the ack's tail goes"), so the targets are measured without it.
   */
  probe?: boolean;
  say(line: string): void;
}

export interface AckPhase {
  target: 'latch' | 'bare';
  kind: 'command' | 'click';
  result: OpenLoopResult;
  /** CPU the target process used during the phase, as a share of one core. */
  cpuCoreShare: number;
  /** Where the machine's CPU went during the phase: what saturates when the target cannot keep up. */
  cpu: CpuShares;
  /** The machine's 1-minute load average when the phase started. */
  loadAverage: number;
  /** What the event-loop probe saw in the target process during the phase (null without it). */
  loop: LoopSummary | null;
}

/** CPU during a phase, each as a share of one core, and the machine's cores busy (all processes). */
export interface CpuShares {
  /** This process: the load generator signing and sending the requests. */
  generator: number;
  /** The PostgreSQL backends connected to the bench's database (Latch's pool, the probe). */
  postgres: number;
  fakeSlack: number;
  /** The stack's `latch worker`, which posts the approval messages the commands queue. */
  worker: number;
  redis: number;
  /** Every process on the machine (/proc/stat), out of `cores`: 2 of 2 is a saturated machine. */
  machine: number;
  /**
   * The share of the phase in which some runnable task on the machine waited for a core (Linux's
   * pressure stall information, /proc/pressure/cpu "some"); NaN where the kernel has none.
   */
  cpuPressure: number;
  cores: number;
}

export interface AckResult {
  phases: AckPhase[];
  memory: { latch: ProcessMemory; bare: ProcessMemory };
  /** After the last slash command was answered, until every request had its approval message. */
  announceDrainMs: number;
  /** Slash commands sent to Latch (warm-up included), the requests stored, and those announced. */
  commandsSent: number;
  /** Of those, the ones Latch refused at the door (busy) in their ack: they must store nothing. */
  commandsRefused: number;
  /**
   * Of those, the ones whose answer never reached the generator (the connection failed or timed
   * out, or a status other than 200): Latch may have taken them or not, so the requests stored are
   * between the commands acked and not refused, and that plus these.
   */
  commandsUnanswered: number;
  requestsStored: number;
  requestsCreated: number;
  /** Approve clicks sent to Latch (warm-up included) and the requests they approved; null with commandsOnly. */
  clicks: { sent: number; approved: number } | null;
  slackCalls: Record<string, number>;
  /**
   * The clicks' message updates: each approval rewrites its request's two messages (the approval
   * message and the requester's DM), so `expected` is twice the approvals; `made` is the
   * `chat.update` calls the fake Slack got once they stopped coming (waited for, since they follow
   * the stored approval). Null when no click was sent.
   */
  updates: { expected: number; made: number } | null;
  /** Warnings and errors Latch logged during the run: message → count. */
  problems: Record<string, number>;
}

export interface ProcessMemory {
  /** VmRSS once started and idle. */
  idleRssMiB: number;
  /** VmHWM after the load: the peak of the whole life of the process. */
  peakMiB: number;
}

const REASON = 'investigating slow queries reported by support';

export async function runAckLatency(options: AckOptions): Promise<AckResult> {
  // The probe's snapshots go to a directory of the run's own, removed however the run ends.
  const probeDir = !options.probe ? null : mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'latch-bench-loop-'));
  try {
    return await measureAckLatency(options, probeDir ? new LoopProbe(probeDir) : null);
  } finally {
    if (probeDir) rmSync(probeDir, { recursive: true, force: true });
  }
}

async function measureAckLatency(options: AckOptions, loopProbe: LoopProbe | null): Promise<AckResult> {
  const { rate, say } = options;
  const warmupMs = options.warmupS * 1000;
  const durationMs = options.seconds * 1000;
  const stack = await startLatchStack({ adminDatabaseUrl: options.adminDatabaseUrl, role: 'web', roleEnv: (env) => loopProbe?.env(env.NODE_OPTIONS) ?? {}, say });
  const barePort = await freePort();
  const bare = new BenchChild('./bare-bolt-app.ts', { PORT: String(barePort), SLACK_SIGNING_SECRET: BENCH_SIGNING_SECRET, SLACK_BOT_TOKEN: BENCH_BOT_TOKEN, SLACK_API_URL: stack.slack.apiUrl, ...loopProbe?.env() });
  const probe = new pg.Client({ connectionString: stack.database.url, application_name: 'latch-bench-probe' });
  probe.on('error', () => undefined);
  try {
    await bare.next('ready');
    await probe.connect();
    const bareSender = new SlackSender(`http://127.0.0.1:${barePort}/slack/events`, BENCH_SIGNING_SECRET, (id) => stack.slack.responseUrl(id));
    const senders = { latch: stack.sender, bare: bareSender };
    const memory = {
      latch: { idleRssMiB: memoryOf(stack.latch.pid).rssMiB, peakMiB: Number.NaN },
      bare: { idleRssMiB: memoryOf(bare.pid).rssMiB, peakMiB: Number.NaN },
    };
    const phases: AckPhase[] = [];
    const redisPid = await redisServerPid(stack);
    const run = async (target: 'latch' | 'bare', kind: 'command' | 'click', send: (sender: SlackSender, i: number) => Promise<Response>) => {
      const pid = target === 'latch' ? stack.latch.pid : bare.pid;
      const loadAverage = loadavg()[0]!;
      const cpuBefore = cpuSecondsOf(pid);
      const others = await otherCpu(probe, stack.slack.pid, stack.worker?.pid, redisPid);
      // The probe counts from here; the warm-up is in it too (the generator's figures leave it out).
      if (loopProbe && pid) await loopProbe.take(pid);
      const startedAt = Date.now();
      const result = await runOpenLoop({ rate, warmupMs, durationMs, send: (i) => statusOf(send(senders[target], i)) });
      const seconds = (Date.now() - startedAt) / 1000;
      const cpuCoreShare = (cpuSecondsOf(pid) - cpuBefore) / seconds;
      const loop = loopProbe && pid ? summarizeProbe(await loopProbe.take(pid)) : null;
      const cpu = await others.since(seconds);
      phases.push({ target, kind, result, cpuCoreShare, cpu, loadAverage, loop });
      say(`  ${kind === 'command' ? 'slash command' : 'Approve click'} → ${target === 'latch' ? 'latch web' : 'bare Bolt'}: ${latencyLine(result)}; its CPU ${(cpuCoreShare * 100).toFixed(0)}% of a core`);
      say(`    meanwhile: generator ${pct(cpu.generator)}, PostgreSQL backends ${pct(cpu.postgres)}, fake Slack ${pct(cpu.fakeSlack)}, latch worker ${pct(cpu.worker)}, Redis ${pct(cpu.redis)} of a core; the machine ${cpu.machine.toFixed(2)} of ${cpu.cores} cores busy, a task waiting for a core ${Number.isNaN(cpu.cpuPressure) ? 'unknown' : pct(cpu.cpuPressure)} of the time; load average ${loadAverage.toFixed(2)} at the start`);
      for (const line of loop ? loopSummaryLines(loop) : []) say(`    ${line}`);
    };

    // The baseline first, then Latch, for each kind: the same load, one after the other.
    let commandsRefused = 0;
    let commandsUnanswered = 0;
    const command = async (sender: SlackSender, i: number) => {
      const toLatch = sender === stack.sender;
      let response: Response;
      try {
        response = await sender.command(requesterOf(i), `${BENCH_RESOURCE} read 2h ${REASON} #${i}`);
      } catch (error) {
        if (toLatch) commandsUnanswered += 1;
        throw error;
      }
      if (toLatch && response.status !== 200) commandsUnanswered += 1;
      // The admission gate refuses in the ack itself, with an ephemeral message saying Latch is busy.
      if (toLatch && /Latch is busy/.test(await response.clone().text())) commandsRefused += 1;
      return response;
    };
    await run('bare', 'command', command);
    await run('latch', 'command', command);
    const commandsAnswered = Date.now();
    const acked = phases.at(-1)!.result.total;
    // The commands that got no answer may have been taken: waited for as if they were.
    const expected = acked - commandsRefused;
    const announced = await waitForCount(probe, 'SELECT count(*) AS n FROM access_requests WHERE approval_message_ts IS NOT NULL', expected, 300_000, (n) => say(`  … ${n.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} requests announced`));
    const announceDrainMs = Date.now() - commandsAnswered;
    const stored = Number((await probe.query<{ n: string }>('SELECT count(*) AS n FROM access_requests')).rows[0]!.n);
    say(
      `  of ${acked.toLocaleString('en-US')} slash commands sent to Latch, ${commandsUnanswered.toLocaleString('en-US')} got no answer (the generator's connection failed or timed out), ` +
        `${commandsRefused.toLocaleString('en-US')} were refused as busy in the ack, ${stored.toLocaleString('en-US')} became requests and ${announced.toLocaleString('en-US')} were announced; ` +
        `the last approval message ${(announceDrainMs / 1000).toFixed(1)} s after the last command was answered`,
    );

    let clicks: AckResult['clicks'] = null;
    let updates: AckResult['updates'] = null;
    if (!options.commandsOnly) {
      // Requests the overload lost are made up, at Latch's pace, so every click approves one.
      const wanted = phases.at(-1)!.result.total;
      const pending = await makePendingRequests(stack, probe, wanted, say);
      say(`  ${pending.toLocaleString('en-US')} pending requests to click Approve on`);
      const { rows } = await probe.query<{ id: string }>(`SELECT id FROM access_requests WHERE state = 'pending' AND approval_message_ts IS NOT NULL ORDER BY created_at`);
      const ids = rows.map((row) => row.id);
      const click = (sender: SlackSender, i: number) => sender.click(BENCH_APPROVER, APPROVE, ids[i % ids.length]!, BENCH_APPROVAL_CHANNEL, 'latch_approval_actions:r1');
      await run('bare', 'click', click);
      await run('latch', 'click', click);
      const approved = await waitForCount(probe, `SELECT count(*) AS n FROM access_requests WHERE state = 'approved'`, Math.min(ids.length, phases.at(-1)!.result.total), 300_000);
      say(`  ${approved.toLocaleString('en-US')} requests approved by the clicks`);
      clicks = { sent: phases.at(-1)!.result.total, approved };
      updates = { expected: approved * 2, made: await waitForUpdates(stack.slack, approved * 2) };
      say(`  ${updates.made.toLocaleString('en-US')} of the ${updates.expected.toLocaleString('en-US')} message updates the approvals make reached Slack`);
    }
    memory.latch.peakMiB = memoryOf(stack.latch.pid).hwmMiB;
    memory.bare.peakMiB = memoryOf(bare.pid).hwmMiB;
    return { phases, memory, announceDrainMs, commandsSent: acked, commandsRefused, commandsUnanswered, requestsStored: stored, requestsCreated: announced, clicks, slackCalls: await stack.slack.counts(), updates, problems: problemsLogged(stack.latch.stdout) };
  } finally {
    await probe.end().catch(() => undefined);
    await bare.stop();
    await stack.stop();
  }
}

const pct = (share: number) => `${(share * 100).toFixed(0)}%`;

/** The private redis-server's process id, from its own INFO. */
async function redisServerPid(stack: LatchStack): Promise<number | undefined> {
  const client = stack.redis.client();
  try {
    return Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]) || undefined;
  } finally {
    client.disconnect();
  }
}

/** Microseconds so far in which some runnable task waited for a core (/proc/pressure/cpu), or NaN. */
function cpuPressureMicroseconds(): number {
  try {
    return Number(/^some .*total=(\d+)$/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/** The machine's busy and total CPU time so far, in seconds, over all cores (/proc/stat). */
function machineCpuSeconds(): { busy: number; cores: number } {
  const stat = readFileSync('/proc/stat', 'utf8');
  const [, ...fields] = stat.split('\n', 1)[0]!.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const busy = fields.slice(0, 8).reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0);
  return { busy: busy / 100, cores: (stat.match(/^cpu\d+ /gm) ?? []).length };
}

/**
 * Starts counting the CPU of everything but the target during a phase; `since` gives each share
 * of one core over `seconds`. PostgreSQL's are the backends connected to the bench's database,
 * read from /proc like the others.
 */
async function otherCpu(probe: pg.Client, fakeSlackPid: number | undefined, workerPid: number | undefined, redisPid: number | undefined): Promise<{ since(seconds: number): Promise<CpuShares> }> {
  const backendPids = async () => (await probe.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows.map((row) => row.pid);
  const backends = new Map((await backendPids()).map((pid) => [pid, cpuSecondsOf(pid)]));
  // A backend that started meanwhile (the pool opens connections as it needs them) counts whole;
  // one that ended meanwhile is not counted: the share is at least this.
  const postgresSince = async () =>
    [...new Set([...backends.keys(), ...(await backendPids())])].reduce((sum, pid) => {
      const used = cpuSecondsOf(pid) - (backends.get(pid) ?? 0);
      return sum + (Number.isFinite(used) ? used : 0);
    }, 0);
  const before = { generator: process.cpuUsage(), fakeSlack: cpuSecondsOf(fakeSlackPid), worker: cpuSecondsOf(workerPid), redis: cpuSecondsOf(redisPid), machine: machineCpuSeconds(), pressure: cpuPressureMicroseconds() };
  return {
    async since(seconds) {
      const generator = process.cpuUsage(before.generator);
      const machine = machineCpuSeconds();
      return {
        generator: (generator.user + generator.system) / 1e6 / seconds,
        postgres: (await postgresSince()) / seconds,
        fakeSlack: (cpuSecondsOf(fakeSlackPid) - before.fakeSlack) / seconds,
        worker: (cpuSecondsOf(workerPid) - before.worker) / seconds,
        redis: (cpuSecondsOf(redisPid) - before.redis) / seconds,
        machine: (machine.busy - before.machine.busy) / seconds,
        cpuPressure: (cpuPressureMicroseconds() - before.pressure) / 1e6 / seconds,
        cores: machine.cores,
      };
    },
  };
}

export function latencyLine(result: OpenLoopResult): string {
  const { p50, p99, max } = result.latencyMs;
  const failures = result.failed ? `, ${result.failed} not 200 (${JSON.stringify(result.statuses)})` : '';
  return (
    `p50 ${p50.toFixed(1)} ms  p99 ${p99.toFixed(1)} ms  max ${max.toFixed(0)} ms over ${result.sent.toLocaleString('en-US')} requests ` +
    `(${result.achievedRate.toFixed(0)}/s answered; generator send lag p99 ${result.sendLagMs.p99.toFixed(1)} ms${failures})`
  );
}

/**
 * Polls `sql` (a count) until it reaches `expected`, the time is up, or it has not moved for
 * `stallMs` (work that failed will not finish by waiting); says how it goes every 10 s.
 */
export async function waitForCount(probe: pg.Client, sql: string, expected: number, timeoutMs: number, progress?: (count: number) => void, stallMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const { rows } = await probe.query<{ n: string }>(sql);
    const count = Number(rows[0]!.n);
    if (count !== last) {
      last = count;
      movedAt = Date.now();
    }
    if (count >= expected || Date.now() > deadline || Date.now() - movedAt > stallMs) return count;
    if (progress && Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      progress(count);
    }
    await sleep(250);
  }
}

/**
 * Polls the fake Slack's `chat.update` count until it reaches `expected` or has not moved for 30 s:
 * the updates follow the stored approvals, so counting them at once would miss the last ones.
 */
async function waitForUpdates(slack: LatchStack['slack'], expected: number): Promise<number> {
  let made = -1;
  let movedAt = Date.now();
  for (;;) {
    const count = (await slack.counts())['chat.update'] ?? 0;
    if (count !== made) {
      made = count;
      movedAt = Date.now();
    }
    if (made >= expected || Date.now() - movedAt > 30_000) return made;
    await sleep(250);
  }
}

/** Latch's warn-and-above log lines, counted by message. */
export function problemsLogged(stdout: string): Record<string, number> {
  const problems: Record<string, number> = {};
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number | string; msg?: string; err?: { message?: string } };
      if (!['warn', 'error', 'fatal', 40, 50, 60].includes(entry.level ?? 'info')) continue;
      const key = `${entry.msg ?? '?'}${entry.err?.message ? `: ${entry.err.message.split('\n')[0]!.slice(0, 160)}` : ''}`;
      problems[key] = (problems[key] ?? 0) + 1;
    } catch {
      // A line cut in two by the pipe: not worth more than skipping.
    }
  }
  return problems;
}
