import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';

/**
 * deploy/kubernetes rendered as `kubectl apply -k` renders it, and the parts of its objects that
 * the tests read: test/unit/deploy checks the manifests, test/e2e/kubernetes-pods.test.ts runs
 * their containers as a kubelet would.
 */

export const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));
export const MANIFESTS_FOLDER = `${REPOSITORY}deploy/kubernetes/`;

// The shapes the tests read, from objects test/unit/deploy validates whole against Kubernetes' schemas.
const envVar = z.object({
  name: z.string(),
  value: z.string().optional(),
  valueFrom: z.object({ secretKeyRef: z.object({ name: z.string(), key: z.string(), optional: z.boolean().optional() }).optional() }).passthrough().optional(),
});
const httpProbe = z
  .object({
    httpGet: z.object({ path: z.string(), port: z.union([z.string(), z.number()]) }),
    // Kubernetes' defaults when unset.
    periodSeconds: z.number().default(10),
    timeoutSeconds: z.number().default(1),
    failureThreshold: z.number().default(3),
  })
  .passthrough();
const securityContext = z
  .object({
    runAsNonRoot: z.boolean().optional(),
    runAsUser: z.number().optional(),
    readOnlyRootFilesystem: z.boolean().optional(),
    allowPrivilegeEscalation: z.boolean().optional(),
    privileged: z.boolean().optional(),
    capabilities: z.object({ drop: z.array(z.string()).optional(), add: z.array(z.string()).optional() }).optional(),
    seccompProfile: z.object({ type: z.string() }).optional(),
  })
  .passthrough();
export const container = z
  .object({
    name: z.string(),
    image: z.string(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).default([]),
    ports: z.array(z.object({ name: z.string().optional(), containerPort: z.number() })).default([]),
    env: z.array(envVar).default([]),
    envFrom: z.array(z.object({ secretRef: z.object({ name: z.string(), optional: z.boolean().optional() }).optional(), configMapRef: z.unknown().optional() })).default([]),
    resources: z.object({ requests: z.record(z.string(), z.union([z.string(), z.number()])).optional(), limits: z.record(z.string(), z.union([z.string(), z.number()])).optional() }).optional(),
    livenessProbe: httpProbe.optional(),
    readinessProbe: httpProbe.optional(),
    startupProbe: httpProbe.optional(),
    lifecycle: z.object({ preStop: z.object({ sleep: z.object({ seconds: z.number() }).optional() }).passthrough().optional() }).optional(),
    securityContext: securityContext.optional(),
    volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string(), readOnly: z.boolean().optional() })).default([]),
  })
  .passthrough();
const podSpec = z
  .object({
    containers: z.array(container),
    initContainers: z.array(container).default([]),
    securityContext: securityContext.optional(),
    terminationGracePeriodSeconds: z.number().optional(),
    automountServiceAccountToken: z.boolean().optional(),
    volumes: z.array(z.object({ name: z.string(), emptyDir: z.unknown().optional(), configMap: z.object({ name: z.string(), items: z.array(z.object({ key: z.string(), path: z.string() })).optional() }).optional() }).passthrough()).default([]),
  })
  .passthrough();
const labels = z.record(z.string(), z.string());
export const template = z.object({ metadata: z.object({ labels }), spec: podSpec });
export const deployment = z.object({
  kind: z.literal('Deployment'),
  metadata: z.object({ name: z.string() }),
  spec: z.object({ replicas: z.number(), selector: z.object({ matchLabels: labels }), template }),
});
export const job = z.object({ kind: z.literal('Job'), metadata: z.object({ name: z.string() }), spec: z.object({ template }) });
export const pdb = z.object({
  kind: z.literal('PodDisruptionBudget'),
  metadata: z.object({ name: z.string() }),
  spec: z.object({ selector: z.object({ matchLabels: labels }), maxUnavailable: z.union([z.number(), z.string()]).optional(), minAvailable: z.union([z.number(), z.string()]).optional() }),
});
export const service = z.object({
  kind: z.literal('Service'),
  metadata: z.object({ name: z.string() }),
  spec: z.object({ selector: labels, ports: z.array(z.object({ port: z.number(), targetPort: z.union([z.string(), z.number()]) })) }),
});

export type KubernetesObject = { apiVersion: string; kind: string; metadata: { name: string } } & Record<string, unknown>;
export type Workload = { name: string; kind: string; replicas?: number; selector?: Record<string, string>; template: z.infer<typeof template> };

const kustomization = z
  .object({
    apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
    kind: z.literal('Kustomization'),
    resources: z.array(z.string()),
    images: z.array(z.object({ name: z.string(), newName: z.string().optional(), newTag: z.string() })).default([]),
  })
  // Only what render() below does: anything else kustomize would do, this test would not see.
  .strict();

/** `kubectl kustomize deploy/kubernetes`, for the features kustomization.yaml uses (its schema above). */
export function renderManifests(): KubernetesObject[] {
  const { resources, images } = kustomization.parse(parse(readFileSync(`${MANIFESTS_FOLDER}kustomization.yaml`, 'utf8')));
  const objects = resources.flatMap((file) =>
    parseAllDocuments(readFileSync(`${MANIFESTS_FOLDER}${file}`, 'utf8')).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
      return document.toJS() as KubernetesObject;
    }),
  );
  for (const object of objects) {
    const spec = (object.spec ?? {}) as { template?: { spec?: { containers?: Array<{ image: string }>; initContainers?: Array<{ image: string }> } } };
    for (const each of [...(spec.template?.spec?.containers ?? []), ...(spec.template?.spec?.initContainers ?? [])]) {
      const image = images.find((candidate) => candidate.name === each.image.replace(/[:@].*$/, ''));
      if (image) each.image = `${image.newName ?? image.name}:${image.newTag}`;
    }
  }
  return objects;
}

/** The Deployments and Jobs of the rendered manifests, each with its pod template. */
export function workloadsOf(objects: KubernetesObject[]): Workload[] {
  return [
    ...objects.filter((object) => object.kind === 'Deployment').map((object) => deployment.parse(object)).map((each) => ({ name: each.metadata.name, kind: 'Deployment', replicas: each.spec.replicas, selector: each.spec.selector.matchLabels, template: each.spec.template })),
    ...objects.filter((object) => object.kind === 'Job').map((object) => job.parse(object)).map((each) => ({ name: each.metadata.name, kind: 'Job', template: each.spec.template })),
  ];
}

export type Container = z.infer<typeof container>;

/**
 * A container's environment as the kubelet gives it: values as written, `secretKeyRef`s and
 * `envFrom` Secrets from `secrets` (name → key → value; a missing required one fails, as the pod
 * would not start, an optional one is left out).
 */
export function containerEnvironment(each: Container, secrets: Record<string, Record<string, string>>): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const source of each.envFrom) {
    if (!source.secretRef) continue;
    const secret = secrets[source.secretRef.name];
    if (!secret && !source.secretRef.optional) throw new Error(`Secret ${source.secretRef.name} does not exist`);
    Object.assign(environment, secret ?? {});
  }
  for (const variable of each.env) {
    const ref = variable.valueFrom?.secretKeyRef;
    const value = ref ? secrets[ref.name]?.[ref.key] : variable.value;
    if (value === undefined && !ref?.optional) throw new Error(`${variable.name}: Secret ${ref?.name} has no key ${ref?.key}`);
    if (value !== undefined) environment[variable.name] = value;
  }
  return environment;
}
