import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from '../helpers/free-port.ts';
import { containerEnvironment, renderManifests, workloadsOf, type Container, type Workload } from '../helpers/kubernetes-manifests.ts';
import { LatchProcess, runLatch } from '../helpers/latch-process.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { adminQuery, createTestDatabase, withDatabaseName, type TestDatabase } from '../helpers/test-database.ts';

/**
 * The pods of deploy/kubernetes, run as a kubelet runs them, on this machine: each container's
 * `latch` subcommand (its args) with the environment its manifest gives it, from the Secrets the
 * README says to create (holding this test's PostgreSQL, Redis and fake Slack), the policy
 * ConfigMap's file where LATCH_POLICY_FILE points (its mount moved to a folder of the test's own),
 * and its port moved to a free one (pods have a network each; these processes share loopback).
 * SLACK_API_URL, which the manifests do not set, points Slack at the fake. The migrate Job
 * migrates as the owner and grants the app role; then web and worker, connected as that role
 * alone, pass their start-up, liveness and readiness probes within the manifests' budgets, and
 * stop within their grace periods.
 */

const BOT_TOKEN = 'xoxb-3333-4444-kubernetesPods';
const SIGNING_SECRET = 'kubernetes-pods-signing-secret-0123';
const suffix = randomBytes(4).toString('hex');

const workloads = workloadsOf(renderManifests());
const workload = (name: string) => workloads.find((each) => each.name === name)!;

let slack: FakeSlack;
let redis: PrivateRedis;
let database: TestDatabase;
let appRole: string;
let secrets: Record<string, Record<string, string>>;
let policyText: string;
const processes: LatchProcess[] = [];

beforeAll(async () => {
  [slack, redis, database] = await Promise.all([FakeSlack.start({ botToken: BOT_TOKEN }), PrivateRedis.start(), createTestDatabase({ migrated: false })]);
  // The Job's role name, made this test's own: roles belong to the whole server, shared by every test.
  appRole = `${migrateContainer().env.find((variable) => variable.name === 'LATCH_APP_ROLE')!.value}_${suffix}`;
  await adminQuery(database.url, `CREATE ROLE ${appRole} LOGIN`);
  const appUrl = new URL(database.url);
  appUrl.username = appRole;
  appUrl.password = '';
  // As README's "Run it on Kubernetes" creates them.
  secrets = {
    'latch-migrate': { DATABASE_URL: database.url },
    latch: { DATABASE_URL: appUrl.toString(), REDIS_URL: redis.url, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET },
    // The target the policy's provider grants on: another database than Latch's own.
    'latch-providers': { TARGET_DB_URL: withDatabaseName(inject('adminDatabaseUrl'), 'postgres') },
  };
  policyText = `
resources:
  - id: target-db
    name: Target database
    provider: { type: postgres, settings: { connectionStringEnv: TARGET_DB_URL, roles: { read: latch_k8s_reader_${suffix} } } }
    identity: { from: map-only, map: { U0K8SPERSON: latch_k8s_person_${suffix} } }
    roles: [read]
    maxDuration: 1h
    approvers: { users: [U0K8SAPPROVER] }
    approvalChannel: C0K8S
`;
});

afterAll(async () => {
  await Promise.all(processes.map((latch) => latch.kill('SIGKILL')));
  await database?.drop();
  if (appRole) await adminQuery(inject('adminDatabaseUrl'), `DROP ROLE IF EXISTS ${appRole}`);
  await redis?.stop();
  await slack?.close();
});

function migrateContainer(): Container {
  return workload('latch-migrate').template.spec.containers[0]!;
}

interface Pod {
  container: Container;
  environment: Record<string, string>;
  /** The container's named ports, moved to free ports of this machine. */
  ports: Map<string | number, number>;
}

/** A workload's first container as its pod would run it: environment, ConfigMap files, ports. */
async function podOf(each: Workload): Promise<Pod> {
  const [container] = each.template.spec.containers;
  const environment = containerEnvironment(container!, secrets);
  for (const mount of container!.volumeMounts) {
    const configMap = each.template.spec.volumes.find((volume) => volume.name === mount.name)?.configMap;
    if (!configMap) continue;
    expect(configMap.name).toBe('latch-policy');
    const folder = mkdtempSync(join(tmpdir(), 'latch-k8s-configmap-'));
    for (const item of configMap.items ?? [{ key: 'policy.yaml', path: 'policy.yaml' }]) {
      expect(item.key).toBe('policy.yaml');
      mkdirSync(join(folder, item.path, '..'), { recursive: true });
      writeFileSync(join(folder, item.path), policyText);
    }
    for (const [name, value] of Object.entries(environment)) if (value.startsWith(`${mount.mountPath}/`)) environment[name] = `${folder}${value.slice(mount.mountPath.length)}`;
  }
  const ports = new Map<string | number, number>();
  for (const port of container!.ports) {
    const moved = await freePort();
    ports.set(port.containerPort, moved);
    if (port.name) ports.set(port.name, moved);
    if (environment.PORT === String(port.containerPort)) environment.PORT = String(moved);
  }
  return { container: container!, environment: { ...environment, SLACK_API_URL: slack.apiUrl }, ports };
}

/** GET a probe's path on the pod's port: its status, or 0 while nothing listens. */
async function probe(pod: Pod, probe: NonNullable<Container['livenessProbe']>): Promise<number> {
  const port = pod.ports.get(probe.httpGet.port);
  expect(port, `probe port ${probe.httpGet.port}`).toBeDefined();
  try {
    return (await fetch(`http://127.0.0.1:${port}${probe.httpGet.path}`, { signal: AbortSignal.timeout(probe.timeoutSeconds * 1000) })).status;
  } catch {
    return 0;
  }
}

/**
 * Polls a probe at its period until it answers 200, failing once its failure budget is spent, or
 * at once when the process has exited (the kubelet would restart it: a crash loop).
 */
async function passes(pod: Pod, latch: LatchProcess, kind: 'startupProbe' | 'livenessProbe' | 'readinessProbe'): Promise<void> {
  const spec = pod.container[kind]!;
  const period = spec.periodSeconds;
  const budget = spec.failureThreshold;
  let exited = false;
  void latch.exited.then(() => (exited = true));
  for (let attempt = 1; ; attempt++) {
    const status = await probe(pod, spec);
    if (status === 200) return;
    if (exited) throw new Error(`latch ${pod.container.args.join(' ')} exited:\n${latch.stderr}`);
    if (attempt >= budget) throw new Error(`${kind} ${spec.httpGet.path} failed ${attempt} times in a row (last status ${status})`);
    await new Promise((resolve) => setTimeout(resolve, period * 1000));
  }
}

async function connectedRoles(): Promise<string[]> {
  const admin = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ usename: string }>('SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1 ORDER BY 1', [database.name]);
    return rows.map((row) => row.usename);
  } finally {
    await admin.end();
  }
}

describe('the pods of deploy/kubernetes', { timeout: 300_000 }, () => {
  it('migrate as the owner and grant the app role, then serve as that role alone, pass their probes, and stop within their grace period', async () => {
    const migrate = await podOf(workload('latch-migrate'));
    const job = await runLatch(migrate.container.args, { ...migrate.environment, LATCH_APP_ROLE: appRole });
    expect(job.code, job.stderr).toBe(0);

    const started = [];
    for (const name of ['latch-web', 'latch-worker']) {
      const pod = await podOf(workload(name));
      const latch = new LatchProcess(pod.container.args, pod.environment);
      processes.push(latch);
      started.push({ name, pod, latch });
    }
    for (const { name, pod, latch } of started) {
      for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        await passes(pod, latch, kind).catch((error: Error) => {
          throw new Error(`${name}: ${error.message}`);
        });
      }
    }
    // Every connection to Latch's database is the app role's: the owner's URL reached no pod but the Job's.
    expect(await connectedRoles()).toEqual([appRole]);

    for (const { name, latch } of started) {
      const grace = workload(name).template.spec.terminationGracePeriodSeconds!;
      const pause = started.find((each) => each.name === name)!.pod.container.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const stopping = Date.now();
      const exit = await latch.kill('SIGTERM');
      expect(exit.code, `${name}: ${exit.stderr}`).toBe(0);
      // SIGTERM comes after the preStop pause; the kubelet's SIGKILL at the grace period's end.
      expect(Date.now() - stopping, name).toBeLessThan((grace - pause) * 1000);
    }
  });
});
