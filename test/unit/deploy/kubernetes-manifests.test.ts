import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parseDuration from 'parse-duration';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as coreV1 from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, ENV_VARIABLES, migrateCommandEnvSchema, parseEnv, serviceEnvSchema } from '../../../src/config/env.ts';
import { container, deployment, job, MANIFESTS_FOLDER, pdb, renderManifests, REPOSITORY, service, workloadsOf, type KubernetesObject, type Workload } from '../../helpers/kubernetes-manifests.ts';

/**
 * deploy/kubernetes, rendered as `kubectl apply -k` would, checked against Kubernetes' own schemas
 * (the `kubernetes-models` package: validators generated from Kubernetes' OpenAPI definitions, for
 * every built-in kind, offline) and against what Latch needs from its pods: the variables it
 * reads, its subcommands, its probes, its shutdown bound, the database role split, and a pod an
 * operator can run under a restricted Pod Security Standard.
 */

const PACKAGE_VERSION = (JSON.parse(readFileSync(`${REPOSITORY}package.json`, 'utf8')) as { version: string }).version;

type Model = new (data: unknown) => { validate(): void };
/** `kubernetes-models`' models by apiVersion: a kind of another API group needs its module here. */
const MODELS: Record<string, Record<string, unknown>> = { v1: coreV1, 'apps/v1': appsV1, 'batch/v1': batchV1, 'policy/v1': policyV1 };

function modelFor(object: { apiVersion: string; kind: string }): Model {
  const model = MODELS[object.apiVersion]?.[object.kind];
  if (typeof model !== 'function') throw new Error(`no model for ${object.apiVersion} ${object.kind}: import its kubernetes-models module`);
  return model as Model;
}

const objects = renderManifests();
const deployments = objects.filter((object) => object.kind === 'Deployment').map((object) => deployment.parse(object));
const jobs = objects.filter((object) => object.kind === 'Job').map((object) => job.parse(object));
const workloads = workloadsOf(objects);
const containersOf = (workload: Workload) => [...workload.template.spec.initContainers, ...workload.template.spec.containers];
const everyContainer = workloads.flatMap((workload) => containersOf(workload).map((each) => ({ workload, container: each })));
const deploymentNamed = (role: string) => deployments.find((each) => each.spec.template.spec.containers[0]!.args[0] === role)!;
const matches = (selector: Record<string, string>, podLabels: Record<string, string>) => Object.entries(selector).every(([key, value]) => podLabels[key] === value);

/** The subcommands `latch help` lists, from the CLI itself. */
function latchSubcommands(): string[] {
  const usage = execFileSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then(({ runLatchCli }) => runLatchCli(['help']))"], { cwd: REPOSITORY, encoding: 'utf8' });
  const commands = usage.split(/^Commands:$/m)[1]!;
  return [...commands.matchAll(/^ {2}([a-z]+)\b/gm)].map((match) => match[1]!);
}

/** A quantity as Kubernetes writes CPU and memory ("250m", "1", "512Mi"), in its base unit. */
function quantity(value: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(String(value));
  if (!match) throw new Error(`not a quantity this test reads: ${value}`);
  const scale = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

/** Each variable the code requires (no default), for the schema a subcommand reads its environment with. */
function requiredVariables(schema: z.ZodType): string[] {
  const result = parseEnv(schema, {});
  return result.ok ? [] : result.problems.filter((problem) => / is missing: /.test(problem)).map((problem) => problem.split(' ')[0]!);
}

const SCHEMA_OF_SUBCOMMAND: Record<string, z.ZodType> = { web: serviceEnvSchema, worker: serviceEnvSchema, start: serviceEnvSchema, migrate: migrateCommandEnvSchema };
/** Credentials, which start.ts scrubs from every log line: they come from Secrets, never as values. */
const CREDENTIALS = ['DATABASE_URL', 'REDIS_URL', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_APP_TOKEN'];

describe('deploy/kubernetes', () => {
  it('renders the objects a deployment needs: web and worker Deployments, a Service for web, PodDisruptionBudgets, a migrate Job', () => {
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
      'Deployment/latch-web',
      'Deployment/latch-worker',
      'Job/latch-migrate',
      'PodDisruptionBudget/latch-web',
      'PodDisruptionBudget/latch-worker',
      'Service/latch-web',
    ]);
    expect(deploymentNamed('web').spec.replicas).toBe(2);
  });

  it("validates every object against Kubernetes' schemas", () => {
    for (const object of objects) {
      const Model = modelFor(object);
      expect(() => new Model(object).validate(), `${object.kind}/${object.metadata.name}`).not.toThrow();
    }
    // The schemas do catch a mistake: a port given by name where a number is required.
    const broken = structuredClone(deploymentNamed('web'));
    (broken.spec.template.spec.containers[0]!.ports[0] as { containerPort: unknown }).containerPort = 'http';
    expect(() => new (modelFor({ apiVersion: 'apps/v1', kind: 'Deployment' }))(broken).validate()).toThrow(/containerPort must be integer/);
  });

  it('sets no field Kubernetes does not know, as the API server refuses one (a misspelt field would pass the schemas)', () => {
    // kubernetes-models' TypeScript interfaces list every field of every kind: each object as an
    // object literal of its interface, and TypeScript refuses an unknown property at any depth.
    const folder = mkdtempSync(join(tmpdir(), 'latch-k8s-fields-'));
    try {
      const source = objects.map((object, index) => `import type { I${object.kind} as T${index} } from 'kubernetes-models/${object.apiVersion}';\nexport const object${index}: T${index} = ${JSON.stringify(object)};\n`);
      writeFileSync(join(folder, 'objects.ts'), source.join(''));
      const compilerOptions = { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: [], skipLibCheck: true, paths: { 'kubernetes-models/*': [`${REPOSITORY}node_modules/kubernetes-models/*`] } };
      writeFileSync(join(folder, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['objects.ts'] }));
      const check = (): string => {
        try {
          execFileSync(`${REPOSITORY}node_modules/.bin/tsc`, ['-p', folder], { encoding: 'utf8' });
          return '';
        } catch (error) {
          return (error as { stdout: string }).stdout;
        }
      };
      expect(check()).toBe('');
      // And it does refuse one: the web Deployment with a misspelt field deep in a container.
      const misspelt = structuredClone(deploymentNamed('web')) as unknown as { spec: { template: { spec: { containers: Array<{ securityContext: Record<string, unknown> }> } } } };
      misspelt.spec.template.spec.containers[0]!.securityContext = { readOnlyRootFilesytem: true };
      writeFileSync(join(folder, 'objects.ts'), `import type { IDeployment } from 'kubernetes-models/apps/v1';\nexport const misspelt: IDeployment = ${JSON.stringify(misspelt)};\n`);
      expect(check()).toMatch(/readOnlyRootFilesytem\W+ does not exist in type 'ISecurityContext'/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it.runIf(existsSync('/usr/bin/kubectl'))('renders exactly as `kubectl kustomize` does', () => {
    const byName = (list: KubernetesObject[]) => Object.fromEntries(list.map((object) => [`${object.kind}/${object.metadata.name}`, object]));
    const rendered = execFileSync('/usr/bin/kubectl', ['kustomize', MANIFESTS_FOLDER], { encoding: 'utf8' });
    expect(byName(parseAllDocuments(rendered).map((document) => document.toJS() as KubernetesObject))).toEqual(byName(objects));
  });

  it('runs one image in every container, at the version of package.json', () => {
    const images = new Set(everyContainer.map(({ container: each }) => each.image));
    expect([...images]).toEqual([`latch:${PACKAGE_VERSION}`]);
  });

  let subcommands: string[];
  // In a hook: loading the CLI takes seconds on a busy machine (every subcommand is imported).
  beforeAll(() => {
    subcommands = latchSubcommands();
  });

  it("runs a real `latch` subcommand in each container, through the image's entrypoint", () => {
    expect(subcommands).toEqual(expect.arrayContaining(['web', 'worker', 'migrate']));
    for (const { workload, container: each } of everyContainer) {
      expect(each.command, `${workload.name}: keeps the image's entrypoint, the latch command`).toBeUndefined();
      expect(each.args, workload.name).toHaveLength(1);
      expect(subcommands, workload.name).toContain(each.args[0]);
    }
    expect(deploymentNamed('web').metadata.name).toBe('latch-web');
    expect(deploymentNamed('worker').metadata.name).toBe('latch-worker');
    expect(jobs.map((each) => each.spec.template.spec.containers[0]!.args)).toEqual([['migrate']]);
  });

  it('sets only variables Latch reads, every one it requires, credentials from Secrets, and valid values', () => {
    for (const { workload, container: each } of everyContainer) {
      const schema = SCHEMA_OF_SUBCOMMAND[each.args[0]!]!;
      const names = each.env.map((variable) => variable.name);
      for (const name of names) expect(Object.keys(ENV_VARIABLES), `${workload.name} sets ${name}`).toContain(name);
      expect(new Set(names).size, `${workload.name} sets a variable twice`).toBe(names.length);
      const required = requiredVariables(schema);
      expect(required, 'the required variables, read from the schema').toContain('DATABASE_URL');
      for (const name of required) expect(names, `${workload.name} needs ${name}`).toContain(name);
      for (const variable of each.env) {
        if (CREDENTIALS.includes(variable.name)) {
          expect(variable.value, `${workload.name}: ${variable.name} is a credential`).toBeUndefined();
          expect(variable.valueFrom?.secretKeyRef, `${workload.name}: ${variable.name} comes from a Secret`).toBeDefined();
        } else if (variable.name !== 'LATCH_POLICY_FILE') {
          // Checked as Latch checks it (the policy file is checked below: it exists only in the pod).
          const field = (schema as unknown as { shape: Record<string, z.ZodType> }).shape[variable.name]!;
          expect(field.safeParse(variable.value).success, `${workload.name}: ${variable.name}=${variable.value}`).toBe(true);
        }
      }
      expect(objects.filter((object) => object.kind === 'Secret'), 'no Secret is shipped: they are created first, by reference here').toEqual([]);
    }
  });

  it('splits the database roles: migrate as the owner, web and worker as the app role it grants', () => {
    const secretOf = (each: z.infer<typeof container>) => each.env.find((variable) => variable.name === 'DATABASE_URL')!.valueFrom!.secretKeyRef!.name;
    const [migrate] = jobs.map((each) => each.spec.template.spec.containers[0]!);
    const ownerSecret = secretOf(migrate!);
    expect(migrate!.env.find((variable) => variable.name === 'LATCH_APP_ROLE')?.value).toMatch(/^[a-z_]+$/);
    for (const each of deployments) {
      const serving = each.spec.template.spec.containers[0]!;
      expect(secretOf(serving), each.metadata.name).not.toBe(ownerSecret);
      // Not even by another way in: the owner's Secret reaches no serving pod.
      expect(JSON.stringify(each), each.metadata.name).not.toContain(`"${ownerSecret}"`);
    }
  });

  it('reads the policy from a ConfigMap, mounted read-only where LATCH_POLICY_FILE points', () => {
    for (const each of deployments) {
      const { spec } = each.spec.template;
      const serving = spec.containers[0]!;
      const path = serving.env.find((variable) => variable.name === 'LATCH_POLICY_FILE')!.value!;
      const mount = serving.volumeMounts.find((candidate) => path.startsWith(`${candidate.mountPath}/`));
      expect(mount, `${each.metadata.name}: a volume holds ${path}`).toBeDefined();
      expect(mount!.readOnly, each.metadata.name).toBe(true);
      const volume = spec.volumes.find((candidate) => candidate.name === mount!.name)!;
      expect(volume.configMap?.items?.map((item) => item.path), each.metadata.name).toContain(path.slice(mount!.mountPath.length + 1));
    }
  });

  it('runs every container as non-root, read-only, without privilege or capabilities, under the default seccomp profile', () => {
    for (const { workload, container: each } of everyContainer) {
      const pod = workload.template.spec.securityContext ?? {};
      const own = each.securityContext ?? {};
      const where = `${workload.name}/${each.name}`;
      expect(own.runAsNonRoot ?? pod.runAsNonRoot, where).toBe(true);
      // A numeric user: the kubelet cannot check a named one (the image's `node`) is not root.
      expect(own.runAsUser ?? pod.runAsUser, where).toBeGreaterThan(0);
      expect((own.seccompProfile ?? pod.seccompProfile)?.type, where).toBe('RuntimeDefault');
      expect(own.readOnlyRootFilesystem, where).toBe(true);
      expect(own.allowPrivilegeEscalation, where).toBe(false);
      expect(own.privileged ?? false, where).toBe(false);
      expect(own.capabilities?.drop, where).toEqual(['ALL']);
      expect(own.capabilities?.add ?? [], where).toEqual([]);
      expect(workload.template.spec.automountServiceAccountToken, `${workload.name}: Latch never calls the Kubernetes API`).toBe(false);
    }
  });

  it('writes only to emptyDir volumes, /tmp among them', () => {
    for (const { workload, container: each } of everyContainer) {
      const writable = each.volumeMounts.filter((mount) => mount.readOnly !== true);
      expect(writable.map((mount) => mount.mountPath), workload.name).toContain('/tmp');
      for (const mount of writable) {
        const volume = workload.template.spec.volumes.find((candidate) => candidate.name === mount.name);
        expect(volume?.emptyDir, `${workload.name}: ${mount.mountPath} is writable`).toBeDefined();
      }
    }
  });

  it('requests and limits CPU and memory for every container, requests within limits', () => {
    for (const { workload, container: each } of everyContainer) {
      for (const resource of ['cpu', 'memory']) {
        const request = each.resources?.requests?.[resource];
        const limit = each.resources?.limits?.[resource];
        expect(request, `${workload.name}: ${resource} request`).toBeDefined();
        expect(limit, `${workload.name}: ${resource} limit`).toBeDefined();
        expect(quantity(request!), `${workload.name}: ${resource}`).toBeLessThanOrEqual(quantity(limit!));
      }
    }
  });

  it('probes /healthz for liveness and start-up and /readyz for readiness, on the port Latch listens on', () => {
    for (const each of deployments) {
      const serving = each.spec.template.spec.containers[0]!;
      const port = Number(serving.env.find((variable) => variable.name === 'PORT')?.value ?? 3000);
      const named = serving.ports.find((candidate) => candidate.containerPort === port);
      expect(named, each.metadata.name).toBeDefined();
      const probes = { livenessProbe: '/healthz', startupProbe: '/healthz', readinessProbe: '/readyz' } as const;
      for (const [probe, path] of Object.entries(probes)) {
        const httpGet = serving[probe as keyof typeof probes]?.httpGet;
        expect(httpGet?.path, `${each.metadata.name}: ${probe}`).toBe(path);
        expect([named!.name, port], `${each.metadata.name}: ${probe}`).toContain(httpGet?.port);
      }
    }
  });

  it("gives every pod longer than Latch's own shutdown bound to stop, with the same margin as docker-compose.yml", () => {
    const compose = parse(readFileSync(`${REPOSITORY}docker-compose.yml`, 'utf8')) as { services: Record<string, { stop_grace_period?: string; environment?: Record<string, string> }> };
    const composeLatch = compose.services.latch!;
    const composeBound = Number(composeLatch.environment?.LATCH_SHUTDOWN_TIMEOUT_SECONDS ?? DEFAULT_SHUTDOWN_TIMEOUT_SECONDS);
    const composeMargin = parseDuration(composeLatch.stop_grace_period ?? '10s', 's')! - composeBound;
    for (const each of deployments) {
      const { spec } = each.spec.template;
      const serving = spec.containers[0]!;
      const bound = Number(serving.env.find((variable) => variable.name === 'LATCH_SHUTDOWN_TIMEOUT_SECONDS')?.value ?? DEFAULT_SHUTDOWN_TIMEOUT_SECONDS);
      // SIGTERM comes after the preStop pause, within the same grace period.
      const pause = serving.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const grace = spec.terminationGracePeriodSeconds ?? 30;
      expect(grace - pause - bound, `${each.metadata.name}: seconds left to close and exit after the bound`).toBeGreaterThanOrEqual(5);
      expect(grace - pause - bound, `${each.metadata.name}: margin as in docker-compose.yml`).toBe(composeMargin);
    }
  });

  it('keeps each Deployment drainable one pod at a time, with a PodDisruptionBudget that selects its pods and no others', () => {
    const budgets = objects.filter((object) => object.kind === 'PodDisruptionBudget').map((object) => pdb.parse(object));
    for (const each of deployments) {
      const podLabels = each.spec.template.metadata.labels;
      expect(matches(each.spec.selector.matchLabels, podLabels), `${each.metadata.name} selects its own pods`).toBe(true);
      const mine = budgets.filter((budget) => matches(budget.spec.selector.matchLabels, podLabels));
      expect(mine.map((budget) => budget.metadata.name), each.metadata.name).toHaveLength(1);
      const [budget] = mine;
      expect(budget!.spec.selector.matchLabels, each.metadata.name).toEqual(each.spec.selector.matchLabels);
      // A budget that allows no disruption blocks every node drain.
      if (budget!.spec.minAvailable !== undefined) expect(Number(budget!.spec.minAvailable)).toBeLessThan(each.spec.replicas);
      else expect(Number(budget!.spec.maxUnavailable)).toBeGreaterThanOrEqual(1);
      for (const other of workloads.filter((workload) => workload.name !== each.metadata.name)) {
        expect(matches(budget!.spec.selector.matchLabels, other.template.metadata.labels), `${budget!.metadata.name} also selects ${other.name}`).toBe(false);
      }
    }
  });

  it("has the README create every Secret key and ConfigMap the manifests need", () => {
    const readme = readFileSync(`${REPOSITORY}README.md`, 'utf8');
    const section = readme.slice(readme.indexOf('### Run it on Kubernetes'), readme.indexOf('\n### ', readme.indexOf('### Run it on Kubernetes') + 1));
    // Each `kubectl create secret|configmap <name>` command of the section, with the keys it gives.
    const created = new Map<string, string[]>();
    for (const [, kind, name, rest] of section.replaceAll('\\\n', ' ').matchAll(/kubectl create (secret generic|configmap) ([a-z-]+)([^\n]*)/g)) {
      created.set(`${kind === 'configmap' ? 'ConfigMap' : 'Secret'}/${name}`, [...rest!.matchAll(/--from-(?:literal|file)=([A-Za-z_.]+)=/g)].map((match) => match[1]!));
    }
    for (const { workload, container: each } of everyContainer) {
      for (const variable of each.env) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (!ref || ref.optional) continue;
        expect(created.get(`Secret/${ref.name}`), `${workload.name}: ${variable.name}`).toContain(ref.key);
      }
      for (const source of each.envFrom) if (source.secretRef) expect(created.has(`Secret/${source.secretRef.name}`), workload.name).toBe(true);
    }
    for (const workload of workloads) {
      for (const volume of workload.template.spec.volumes) {
        if (!volume.configMap) continue;
        const keys = volume.configMap.items?.map((item) => item.key) ?? [];
        for (const key of keys) expect(created.get(`ConfigMap/${volume.configMap.name}`), workload.name).toContain(key);
      }
    }
    expect(section).toContain(`kubectl apply -k deploy/kubernetes`);
  });

  it("sends the web Service to the web pods' Slack port only", () => {
    const [web] = objects.filter((object) => object.kind === 'Service').map((object) => service.parse(object));
    for (const workload of workloads) {
      expect(matches(web!.spec.selector, workload.template.metadata.labels), workload.name).toBe(workload.name === 'latch-web');
    }
    const ports = deploymentNamed('web').spec.template.spec.containers[0]!.ports;
    for (const port of web!.spec.ports) expect(ports.map((candidate) => candidate.name)).toContain(port.targetPort);
  });
});
