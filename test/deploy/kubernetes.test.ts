// The Kubernetes manifests, without a cluster: every object validates against its schema (the
// kubernetes-models family), the kustomizations reference what exists, and the manifests agree with
// the code: probe paths answer on a running service, the grace period covers the drain, the
// ConfigMap passes the service's own config validation, every PromQL expression reads exported
// series only, and the PrometheusRule carries exactly the alerts of otel/alerts.yml and the generated
// SLO rules of otel/slo-rules.yml (test/otel/slo.test.ts checks both are fresh). The deploy guide
// (deploy/README.md) is checked against them as an operator follows it: its overlay (registry image,
// Prometheus' release label), the token Secret, the minimum Kubernetes version, the preStop
// fallback and its excerpts of the TLS examples; where kubectl is installed, its overlay is rendered.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import yaml from 'js-yaml';
import { loadConfig, parseConfig } from '../../src/config.ts';
import { shutdownBoundMs } from '../../src/service.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { CATALOGUE_SERIES } from '../otel/catalogue.ts';
import { aggregationsIn, metricNamesIn } from '../otel/promql.ts';
import { kustomize, kustomizeMissing, type Rendered } from './kustomize.ts';

const root = new URL('../../', import.meta.url).pathname;
const dir = join(root, 'deploy/kubernetes');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

function yamlFiles(d: string): string[] {
  return readdirSync(d).flatMap((name) => {
    const path = join(d, name);
    return statSync(path).isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(name) ? [path] : [];
  });
}

const files = yamlFiles(dir);
const docs = new Map(files.map((f) => [relative(dir, f), yaml.loadAll(readFileSync(f, 'utf8')) as Record<string, unknown>[]]));
const isKustomization = (d: Record<string, unknown>) => String(d.apiVersion).startsWith('kustomize.config.k8s.io/');
const ADAPTER_RULES = 'hpa/prometheus-adapter-rules.yaml';
const objects: { file: string; object: K8sObject }[] = [...docs].flatMap(([file, ds]) =>
  file === ADAPTER_RULES ? [] : ds.filter((d) => !isKustomization(d)).map((object) => ({ file, object: object as K8sObject })),
);
const find = <T = K8sObject>(kind: string): T => {
  const found = objects.filter((o) => o.object.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0].object as T;
};

/** The model package of an API group (kubernetes-models for the built-in ones). */
const MODEL_PACKAGES: Record<string, string> = {
  'keda.sh': '@kubernetes-models/keda',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'gateway.networking.k8s.io': '@kubernetes-models/gateway-api',
};

test('every manifest validates against the schema of its kind', async () => {
  const kinds = objects.map((o) => o.object.kind).sort();
  assert.deepEqual(kinds, [
    'Deployment', 'Gateway', 'HTTPRoute', 'HTTPRoute', 'HorizontalPodAutoscaler', 'Ingress', 'Namespace',
    'PodDisruptionBudget', 'PodMonitor', 'PrometheusRule', 'ScaledObject', 'Service',
  ]);
  for (const { file, object } of objects) {
    const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : '';
    const module = (await import(`${MODEL_PACKAGES[group] ?? 'kubernetes-models'}/${object.apiVersion}`)) as Record<string, new (o: unknown) => { validate(): void }>;
    const Model = module[object.kind];
    assert.ok(Model, `${file}: no schema for ${object.apiVersion} ${object.kind}`);
    assert.doesNotThrow(() => new Model(object).validate(), `${file}: ${object.kind} ${object.metadata.name}`);
  }
});

test('a broken manifest fails the schema check (the check can fail)', async () => {
  const { Deployment } = await import('kubernetes-models/apps/v1');
  const broken = structuredClone(find<{ spec: { replicas: unknown } }>('Deployment'));
  broken.spec.replicas = 'two';
  assert.throws(() => new Deployment(broken as never).validate());
});

test('the kustomizations reference files and directories that exist, and every manifest is used or an example', () => {
  const referenced = new Set<string>();
  for (const [file, ds] of docs) {
    for (const k of ds.filter(isKustomization)) {
      for (const entry of [...((k.resources as string[] | undefined) ?? []), ...((k.components as string[] | undefined) ?? [])]) {
        const target = join(dir, dirname(file), entry);
        assert.ok(existsSync(target), `${file} → ${entry}`);
        referenced.add(relative(dir, target));
      }
    }
  }
  const unused = [...docs.keys()].filter((f) => !docs.get(f)!.some(isKustomization) && !referenced.has(f));
  assert.deepEqual(unused.sort(), [ADAPTER_RULES, 'ingress/httproute.yaml', 'ingress/ingress-nginx.yaml'], 'only examples and the adapter config stand alone');
});

// ------------------------------------------------------------------------- against the code

interface Probe {
  httpGet: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
  ports: { name: string; containerPort: number }[];
  startupProbe: Probe;
  livenessProbe: Probe;
  readinessProbe: Probe;
  lifecycle: { preStop: { sleep: { seconds: number } } };
  volumeMounts: { name: string; mountPath: string }[];
}
interface PodSpec {
  terminationGracePeriodSeconds: number;
  containers: Container[];
  volumes: { name: string; configMap?: { name: string } }[];
}
const deployment = () => find<{ metadata: { name: string }; spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } }>('Deployment');
const container = () => deployment().spec.template.spec.containers[0];

interface Kustomization {
  namespace?: string;
  resources?: string[];
  components?: string[];
  replicas?: unknown;
  configMapGenerator?: { name: string; files?: string[]; options?: { disableNameSuffixHash?: boolean } }[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
}
const BASE = 'base/kustomization.yaml';
const kustomization = (file: string) => docs.get(file)!.find(isKustomization) as Kustomization;
/** The base's one generated ConfigMap, and its one file: [key in the ConfigMap, path from the base]. */
const generator = () => {
  const generators = kustomization(BASE).configMapGenerator ?? [];
  assert.equal(generators.length, 1, `${BASE} generates the config (configMapGenerator)`);
  const files = generators[0].files ?? [];
  assert.equal(files.length, 1);
  const [key, path] = files[0].includes('=') ? files[0].split('=') : [basename(files[0]), files[0]];
  return { ...generators[0], key, path: join('base', path) };
};
const config = () => parseConfig(JSON.parse(readFileSync(join(dir, generator().path), 'utf8')), `deploy/kubernetes/${generator().path}`);
const kustomizeSkip = kustomizeMissing();

/** The deploy guide, and its fenced code blocks of one language: what an operator copies. */
const guide = readFileSync(join(root, 'deploy/README.md'), 'utf8');
const guideBlocks = (lang: string) => [...guide.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === lang).map((m) => m[2]);
/** Every YAML document of the guide's blocks, parsed. */
const guideYaml = () => guideBlocks('yaml').flatMap((b) => yaml.loadAll(b)) as Record<string, unknown>[];
/** The overlay the guide has an operator write for a cluster. */
interface Overlay {
  namespace: string;
  resources: string[];
  images: { name: string; newName: string; newTag: string }[];
  patches: { target: { group: string; kind: string }; patch: string }[];
}
const guideOverlay = () => {
  const overlays = (guideYaml() as unknown as (Overlay & { kind: string })[]).filter((o) => o?.kind === 'Kustomization');
  assert.equal(overlays.length, 1, 'the guide shows one overlay');
  return overlays[0];
};
/** A kustomization field the guide gives inline (`secretGenerator: [...]`), parsed. */
const guideInline = (field: string) => {
  const m = new RegExp('`' + field + ': (\\[[^`]*\\])`').exec(guide);
  assert.ok(m, `the guide gives ${field}`);
  return yaml.load(m[1]) as unknown[];
};
/** The guide's YAML objects of one kind. */
const guideObjects = <T = K8sObject>(kind: string) => (guideYaml() as unknown as K8sObject[]).filter((o) => o?.kind === kind) as T[];

let service: TestService;
before(async () => {
  service = await startTestService();
});
after(() => service.shutdown(0));

test('the generated ConfigMap holds a config the service accepts, at the path the container reads', () => {
  const c = config();
  const pod = deployment().spec.template.spec;
  const args = container().args ?? [];
  assert.equal(args[0], '--config');
  const volume = pod.volumes.find((v) => v.configMap)!;
  const mount = container().volumeMounts.find((m) => m.name === volume.name)!;
  assert.equal(args[1], join(mount.mountPath, generator().key), 'the container reads the generated key');
  assert.ok(c.limits.max_streams > 0);
});

test('the config is a configMapGenerator with a hash suffix that the Deployment references, so an edit rolls the pods', () => {
  assert.deepEqual(objects.filter((o) => o.object.kind === 'ConfigMap').map((o) => o.file), [], 'no plain ConfigMap: editing one does not restart the pods');
  const g = generator();
  assert.notEqual(g.options?.disableNameSuffixHash, true, 'the hash suffix is what rolls the pods');
  assert.notEqual(kustomization(BASE).generatorOptions?.disableNameSuffixHash, true, 'the hash suffix is what rolls the pods');
  // kustomize rewrites a reference to the generator's name into the hashed name; any other name is left alone.
  assert.equal(deployment().spec.template.spec.volumes.find((v) => v.configMap)?.configMap?.name, g.name);
});

test('kubectl kustomize: the Deployment mounts the ConfigMap by its hashed name, and an edited config changes the pod template', { skip: kustomizeSkip }, () => {
  const mounted = (objs: Rendered[]) => {
    const d = objs.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } };
    return d.spec.template.spec.volumes.find((v) => v.configMap)!.configMap!.name;
  };
  const rendered = kustomize(dir);
  const maps = rendered.filter((o) => o.kind === 'ConfigMap');
  assert.equal(maps.length, 1);
  const declared = deployment().spec.template.spec.volumes.find((v) => v.configMap)!.configMap!.name;
  assert.match(maps[0].metadata.name, new RegExp(`^${declared}-[a-z0-9]{6,}$`), 'a name with the hash of the content');
  assert.equal(mounted(rendered), maps[0].metadata.name);

  const copy = mkdtempSync(join(tmpdir(), 'streamer-kustomize-'));
  try {
    cpSync(dir, copy, { recursive: true });
    const edited = { ...(JSON.parse(readFileSync(join(dir, generator().path), 'utf8')) as object), log_level: 'debug' };
    writeFileSync(join(copy, generator().path), JSON.stringify(edited));
    assert.notEqual(mounted(kustomize(copy)), mounted(rendered), 'an edited config gives the pods a new ConfigMap name: a rollout');
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test('probes: liveness on health, readiness and start-up on ready, paths that answer 200 on a running service', async () => {
  const c = container();
  assert.equal(c.livenessProbe.httpGet.path, '/api/v1/health', 'a saturated or draining pod must not be restarted');
  assert.equal(c.readinessProbe.httpGet.path, '/api/v1/ready');
  assert.equal(c.startupProbe.httpGet.path, '/api/v1/ready', 'start-up covers model load and warm-up');
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
    assert.equal(probe.httpGet.port, 'http');
    const res = await fetch(`${service.url}${probe.httpGet.path}`);
    assert.equal(res.status, 200, probe.httpGet.path);
  }
  const port = c.ports.find((p) => p.name === 'http')!.containerPort;
  assert.equal(c.env?.find((e) => e.name === 'PORT')?.value, String(port), 'the service listens on the container port');
  assert.equal(c.env?.find((e) => e.name === 'HOST')?.value, '0.0.0.0');
});

test('the grace period covers preStop and the shutdown bound (drain deadline, finish time, release time)', () => {
  const pod = deployment().spec.template.spec;
  const preStop = container().lifecycle.preStop.sleep.seconds;
  const needed = preStop + shutdownBoundMs(config().shutdown) / 1000;
  assert.ok(pod.terminationGracePeriodSeconds >= needed, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < ${needed}`);
});

test('selectors: Service, PDB and PodMonitor select the Deployment’s pods, by its named port', () => {
  const labels = deployment().spec.template.metadata.labels;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  assert.ok(matches(deployment().spec.selector.matchLabels));
  assert.ok(matches(find<{ spec: { selector: Record<string, string> } }>('Service').spec.selector));
  assert.ok(matches(find<{ spec: { selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget').spec.selector.matchLabels));
  const monitor = find<{ spec: { jobLabel: string; selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string; path: string }[] } }>('PodMonitor');
  assert.ok(matches(monitor.spec.selector.matchLabels));
  assert.equal(labels[monitor.spec.jobLabel], 'streamer', 'job="streamer", as the alerts expect');
  for (const endpoint of monitor.spec.podMetricsEndpoints) {
    assert.ok(container().ports.some((p) => p.name === endpoint.port));
    assert.equal(endpoint.path, '/metrics');
  }
  assert.equal(find<{ spec: { scaleTargetRef: { name: string } } }>('ScaledObject').spec.scaleTargetRef.name, deployment().metadata.name);
  assert.equal(find<{ spec: { scaleTargetRef: { name: string } } }>('HorizontalPodAutoscaler').spec.scaleTargetRef.name, deployment().metadata.name);
});

test('auth tokens: the Deployment reads STREAMER_TOKENS from the Secret the guide gives, and the service takes them', async () => {
  const ref = container().env?.find((e) => e.name === 'STREAMER_TOKENS')?.valueFrom?.secretKeyRef;
  assert.ok(ref, 'env STREAMER_TOKENS from a secretKeyRef');
  assert.equal(ref.optional, true, 'auth stays off (as by default) until the Secret exists');
  const secrets = guideObjects<K8sObject & { stringData: Record<string, string> }>('Secret').filter((o) => o.metadata.name === ref.name);
  assert.equal(secrets.length, 1, `the guide gives the Secret ${ref.name}`);
  const { Secret } = await import('kubernetes-models/v1');
  new Secret(secrets[0]).validate();
  assert.equal(secrets[0].metadata.namespace, kustomization('kustomization.yaml').namespace);
  const value = secrets[0].stringData[ref.key];
  assert.ok(value, `the Secret has the key ${ref.key}`);
  // The variable's name and format are the ones the service reads (src/config.ts).
  assert.deepEqual(loadConfig(undefined, { STREAMER_TOKENS: value }).auth.tokens, value.split(','));
  assert.match(guide, new RegExp(`create secret generic ${ref.name} \\\\?\\s*--from-literal=${ref.key}=`), 'the guide\'s command creates the same Secret and key');
});

test('image: the guide pushes the image to a registry and its overlay points the Deployment’s image there', () => {
  const [name, tag] = container().image.split(':');
  const base = (kustomization(BASE) as { images: { name: string; newTag: string }[] }).images.find((i) => i.name === name);
  assert.ok(base, `${BASE} images: names the Deployment's image ${name}`);
  assert.equal(tag, undefined, 'the tag comes from the kustomization');
  const overlay = guideOverlay();
  const image = overlay.images.find((i) => i.name === name);
  assert.ok(image, `the guide's overlay sets the image ${name}`);
  assert.match(image.newName, /^[^/]+\.[^/]+\/.+\/streamer$/, 'a registry host and path');
  assert.equal(image.newTag, base.newTag);
  const registry = /^REGISTRY=(\S+)/m.exec(guide)?.[1];
  assert.equal(registry, dirname(image.newName), 'the overlay names the registry the guide pushes to');
  assert.ok(guide.includes(`docker push $REGISTRY/streamer:${image.newTag}\n`) || guide.includes(`docker push $REGISTRY/streamer:${image.newTag} `), 'the guide pushes the tag the overlay names');
  assert.equal(overlay.namespace, kustomization('kustomization.yaml').namespace, 'generators in the overlay land beside the Deployment');
});

test('monitoring: PodMonitor and PrometheusRule carry the release label kube-prometheus-stack selects by, and the guide’s overlay sets it on both', () => {
  const labelled = ['PodMonitor', 'PrometheusRule'].map((kind) => find(kind).metadata.labels?.release);
  assert.ok(labelled[0], 'the PodMonitor has a release label');
  assert.equal(labelled[1], labelled[0], 'the same on the PrometheusRule');
  assert.ok(guide.includes(`release: ${labelled[0]}`), 'the guide names the label');
  const patch = guideOverlay().patches.find((p) => p.patch.includes('/metadata/labels/release'));
  assert.ok(patch, 'the overlay patches the release label');
  const kinds = new RegExp(`^(?:${patch.target.kind})$`);
  assert.ok(kinds.test('PodMonitor') && kinds.test('PrometheusRule'), 'on both objects');
  assert.equal(patch.target.group, find('PodMonitor').apiVersion.split('/')[0]);
});

test('kubectl kustomize: the guide’s overlay, written as the guide says, sets the image, the release label, the config and the token Secret', { skip: kustomizeSkip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'streamer-overlay-'));
  try {
    const overlayDir = join(work, 'my-cluster');
    const overlay = { ...guideOverlay(), resources: [relative(overlayDir, dir)], configMapGenerator: guideInline('configMapGenerator'), secretGenerator: guideInline('secretGenerator') };
    mkdirSync(overlayDir);
    writeFileSync(join(overlayDir, 'config.json'), JSON.stringify({ log_level: 'debug' }));
    writeFileSync(join(overlayDir, 'tokens.env'), 'tokens=first-secret-token,second-secret-token\n');
    writeFileSync(join(overlayDir, 'kustomization.yaml'), yaml.dump(overlay));
    const rendered = kustomize(overlayDir);
    const image = guideOverlay().images[0];
    const pod = (rendered.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
    assert.equal(pod.containers[0].image, `${image.newName}:${image.newTag}`);
    for (const kind of ['PodMonitor', 'PrometheusRule']) {
      assert.equal(rendered.find((o) => o.kind === kind)?.metadata.labels?.release, 'prometheus', kind);
    }
    const map = rendered.find((o) => o.kind === 'ConfigMap') as unknown as { metadata: { name: string }; data: Record<string, string> };
    assert.deepEqual(JSON.parse(map.data['config.json']), { log_level: 'debug' }, 'the overlay’s config replaces the base’s');
    assert.equal(pod.volumes.find((v) => v.configMap)?.configMap?.name, map.metadata.name);
    const secret = rendered.find((o) => o.kind === 'Secret')!;
    assert.match(secret.metadata.name, /^streamer-tokens-[a-z0-9]{6,}$/);
    assert.equal(pod.containers[0].env?.find((e) => e.name === 'STREAMER_TOKENS')?.valueFrom?.secretKeyRef?.name, secret.metadata.name, 'a changed Secret rolls the pods');
    assert.ok(rendered.every((o) => o.kind === 'Namespace' || o.metadata.namespace === 'streamer'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

/**
 * The oldest Kubernetes (API server and kubelet, default feature gates) each thing the manifests
 * use needs. The guide and the Deployment's comment must state the largest one.
 */
const MINIMUM_KUBERNETES: { what: string; version: number[]; used: () => boolean }[] = [
  { what: 'policy/v1 PodDisruptionBudget', version: [1, 21], used: () => objects.some((o) => o.object.apiVersion === 'policy/v1') },
  { what: 'autoscaling/v2 HorizontalPodAutoscaler (also what KEDA creates)', version: [1, 23], used: () => objects.some((o) => o.object.apiVersion === 'autoscaling/v2' || o.object.kind === 'ScaledObject') },
  { what: 'preStop sleep action (KEP-3960: beta, on by default, in 1.30)', version: [1, 30], used: () => container().lifecycle.preStop.sleep !== undefined },
];

test('the minimum Kubernetes version the manifests need is the one the guide and the Deployment state', () => {
  const needed = MINIMUM_KUBERNETES.filter((m) => m.used()).map((m) => m.version).sort((a, b) => a[0] - b[0] || a[1] - b[1]).at(-1)!.join('.');
  const stated = [...guide.matchAll(/Kubernetes (\d+\.\d+) or later/g)].map((m) => m[1]);
  assert.ok(stated.length > 0, 'the guide states a minimum Kubernetes version');
  assert.deepEqual([...new Set(stated)], [needed], 'every statement of the minimum is the version the manifests need');
  const comment = readFileSync(join(dir, 'base/deployment.yaml'), 'utf8');
  assert.deepEqual([...new Set([...comment.matchAll(/Kubernetes (\d+\.\d+) or later/g)].map((m) => m[1]))], [needed], 'the Deployment says it where the sleep is');
});

test('older clusters: the guide’s exec fallback for the preStop sleep waits as long, runs the image’s sleep, and validates', async () => {
  const seconds = container().lifecycle.preStop.sleep.seconds;
  const fallbacks = (guideYaml() as { kind?: string; patches?: { target: { kind: string; name: string }; patch: string }[] }[])
    .filter((k) => k.kind === undefined && k.patches?.some((p) => p.patch.includes('preStop')));
  assert.equal(fallbacks.length, 1, 'the guide shows the fallback patch');
  const patch = fallbacks[0].patches![0];
  assert.deepEqual(patch.target, { kind: 'Deployment', name: deployment().metadata.name });
  const [op] = yaml.load(patch.patch) as { op: string; path: string; value: unknown }[];
  assert.equal(op.op, 'replace');
  const index = Number(/^\/spec\/template\/spec\/containers\/(\d+)\/lifecycle\/preStop$/.exec(op.path)?.[1]);
  assert.equal(deployment().spec.template.spec.containers[index]?.name, 'streamer', op.path);
  assert.deepEqual(op.value, { exec: { command: ['/bin/sleep', String(seconds)] } }, 'the same wait, with the image’s /bin/sleep');
  // The image is Debian (coreutils: /bin/sleep), not a distroless or scratch one without it.
  const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1];
  assert.match(base ?? '', /^node:[\w.-]*\b(trixie|bookworm)\b[\w.-]*(@sha256:[0-9a-f]+)?$/, 'a Debian base image');
  const { Deployment } = await import('kubernetes-models/apps/v1');
  const patched = structuredClone(deployment());
  (patched.spec.template.spec.containers[index] as { lifecycle: unknown }).lifecycle = { preStop: op.value };
  new Deployment(patched).validate();
});

interface Listener {
  name: string;
  protocol: string;
  hostname?: string;
  tls?: { mode?: string; certificateRefs?: { kind?: string; name: string }[] };
}
interface Route {
  metadata: { name: string };
  spec: {
    parentRefs: { name: string; sectionName?: string }[];
    hostnames: string[];
    rules: { backendRefs?: { name: string }[]; filters?: { type: string; requestRedirect?: { scheme?: string } }[] }[];
  };
}

test('TLS: the gateway serves the service over HTTPS only (plain http redirects), and the Ingress has a tls section for its host', () => {
  const ofKind = <T>(kind: string) => objects.filter((o) => o.object.kind === kind).map((o) => o.object as unknown as T);
  const gateway = find<{ metadata: { name: string }; spec: { listeners: Listener[] } }>('Gateway');
  const service = find('Service').metadata.name;
  for (const route of ofKind<Route>('HTTPRoute')) {
    const toService = route.spec.rules.some((r) => r.backendRefs?.some((b) => b.name === service));
    for (const parent of route.spec.parentRefs) {
      assert.equal(parent.name, gateway.metadata.name);
      const listener = gateway.spec.listeners.find((l) => l.name === parent.sectionName);
      assert.ok(listener, `${route.metadata.name}: attached to one named listener (no sectionName: every listener, plain http too)`);
      for (const host of route.spec.hostnames) assert.equal(listener.hostname, host, `${route.metadata.name}: the listener serves ${host}`);
      if (toService) {
        assert.equal(listener.protocol, 'HTTPS', 'the microphone page needs a secure page');
        assert.notEqual(listener.tls?.mode, 'Passthrough', 'the gateway terminates TLS');
        assert.ok(listener.tls?.certificateRefs?.length, 'the listener has a certificate');
      } else {
        assert.ok(route.spec.rules.every((r) => r.filters?.some((f) => f.type === 'RequestRedirect' && f.requestRedirect?.scheme === 'https')), `${route.metadata.name} redirects to https`);
      }
    }
  }
  assert.ok(ofKind<Route>('HTTPRoute').some((r) => r.spec.rules.some((x) => x.backendRefs?.some((b) => b.name === service))), 'a route to the service');
  const ingress = find<{ spec: { tls?: { hosts: string[]; secretName: string }[]; rules: { host: string }[] } }>('Ingress');
  for (const { host } of ingress.spec.rules) {
    assert.ok(ingress.spec.tls?.some((t) => t.hosts.includes(host) && t.secretName), `the Ingress serves ${host} over TLS`);
  }
  const secrets = [...gateway.spec.listeners.flatMap((l) => l.tls?.certificateRefs ?? []).map((r) => r.name), ...(ingress.spec.tls ?? []).map((t) => t.secretName)];
  for (const name of new Set(secrets)) assert.match(guide, new RegExp(`create secret tls ${name} `), `the guide makes the certificate Secret ${name}`);
});

/** Whether `part` is found in `whole`: every key with a value found there, every array item in some item. */
function within(part: unknown, whole: unknown): boolean {
  if (Array.isArray(part)) return Array.isArray(whole) && part.every((p) => whole.some((w) => within(p, w)));
  if (part && typeof part === 'object') {
    return !!whole && typeof whole === 'object' && Object.entries(part).every(([k, v]) => within(v, (whole as Record<string, unknown>)[k]));
  }
  return part === whole;
}

test('the guide’s excerpts of the manifests are in them as shown', () => {
  const excerpts = guideBlocks('yaml').flatMap((b) => b.split(/^---$/m)).map((b) => b.trim()).map((b) => [/^# kubernetes\/(\S+?):?\s/.exec(b)?.[1], b] as const).filter(([file]) => file);
  assert.ok(excerpts.length >= 3, 'the TLS excerpts');
  for (const [file, text] of excerpts) {
    assert.ok(docs.has(file!), `${file} exists`);
    const part = yaml.load(text);
    assert.ok(docs.get(file!)!.some((object) => within(part, object)), `the guide's excerpt of ${file} is in it:\n${text}`);
  }
});

/** The kustomize components that scale the Deployment (an autoscaler owns its replica count). */
const AUTOSCALED = ['keda', 'hpa'];

test('replicas are left to the autoscaler: neither the Deployment nor a kustomization sets them', () => {
  for (const component of AUTOSCALED) {
    const scalers = objects.filter((o) => o.file.startsWith(`${component}/`) && ['ScaledObject', 'HorizontalPodAutoscaler'].includes(o.object.kind));
    assert.equal(scalers.length, 1, `${component} has an autoscaler`);
  }
  const spec = deployment().spec as { replicas?: number };
  assert.equal(spec.replicas, undefined, 'every re-apply would reset the count the autoscaler chose');
  for (const [file, ds] of docs) for (const k of ds.filter(isKustomization)) assert.equal(k.replicas, undefined, `${file} sets replicas`);
});

test('kubectl kustomize: no replicas in the rendered Deployment of the KEDA and the HPA variant', { skip: kustomizeSkip }, () => {
  const overlay = mkdtempSync(join(tmpdir(), 'streamer-kustomize-'));
  try {
    for (const component of AUTOSCALED) {
      // The default kustomization with this autoscaler, as the README tells an operator to make it.
      const k = structuredClone(kustomization('kustomization.yaml')) as Record<string, unknown> & { resources: string[]; components: string[] };
      // kustomize takes directories only as relative paths.
      k.resources = k.resources.map((r) => relative(overlay, join(dir, r)));
      k.components = k.components.map((c) => relative(overlay, join(dir, AUTOSCALED.includes(c) ? component : c)));
      writeFileSync(join(overlay, 'kustomization.yaml'), yaml.dump(k));
      const rendered = kustomize(overlay);
      assert.ok(rendered.some((o) => ['ScaledObject', 'HorizontalPodAutoscaler'].includes(o.kind)), component);
      const d = rendered.find((o) => o.kind === 'Deployment') as unknown as { spec: { replicas?: number } };
      assert.equal(d.spec.replicas, undefined, `${component}: the autoscaler owns the count`);
    }
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
});

/** Series names an expression reads that the service does not export. */
const unknownSeries = (expr: string) => metricNamesIn(expr).filter((n) => !CATALOGUE_SERIES.has(n));

test('the PrometheusRule carries exactly the alerts of otel/alerts.yml and the SLO rules of otel/slo-rules.yml, and they read exported series', () => {
  type Groups = { groups: { name: string; rules: { expr: string; record?: string }[] }[] };
  const alerts = yaml.load(readFileSync(join(root, 'otel/alerts.yml'), 'utf8')) as Groups;
  const slo = yaml.load(readFileSync(join(root, 'otel/slo-rules.yml'), 'utf8')) as Groups;
  const rule = find<{ spec: { groups: unknown } }>('PrometheusRule');
  assert.deepEqual(rule.spec.groups, [...alerts.groups, ...slo.groups]);
  assert.ok(slo.groups.length >= 2 && slo.groups.every((g) => g.name.startsWith('slo-')), 'an SLO group per SLO');
  // The SLO alerts read the series the SLO group records.
  const recorded = new Set(slo.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
  for (const r of [...alerts.groups, ...slo.groups].flatMap((g) => g.rules)) {
    assert.deepEqual(unknownSeries(r.expr).filter((n) => !recorded.has(n)), [], r.expr);
  }
});

test('KEDA triggers: queries read exported series and return one element; the stream target is below max_streams', () => {
  const scaled = find<{ spec: { triggers: { type: string; metricType: string; metadata: { query: string; threshold: string } }[] } }>('ScaledObject');
  assert.equal(scaled.spec.triggers.length, 2);
  for (const trigger of scaled.spec.triggers) {
    const { query } = trigger.metadata;
    assert.equal(trigger.type, 'prometheus');
    assert.deepEqual(unknownSeries(query), [], query);
    const aggregations = aggregationsIn(query);
    assert.ok(aggregations.length > 0 && aggregations.every((a) => a.grouping === null && a.op === 'sum'), `${query} sums everything into one element`);
  }
  const streams = scaled.spec.triggers.find((t) => t.metadata.query.startsWith('sum(active_streams'))!;
  assert.equal(streams.metricType, 'AverageValue', 'streams are divided by the replica count');
  assert.ok(Number(streams.metadata.threshold) < config().limits.max_streams, 'scale out before pods refuse streams');
});

test('HPA alternative: its metrics are the ones the prometheus-adapter rules serve, from exported series', () => {
  const hpa = find<{ spec: { metrics: { pods: { metric: { name: string } } }[] } }>('HorizontalPodAutoscaler');
  const adapter = docs.get(ADAPTER_RULES)![0] as { rules: { seriesQuery: string; name: { as: string }; metricsQuery: string }[] };
  assert.deepEqual(hpa.spec.metrics.map((m) => m.pods.metric.name).sort(), adapter.rules.map((r) => r.name.as).sort());
  for (const rule of adapter.rules) {
    const series = metricNamesIn(rule.seriesQuery)[0];
    // The adapter's templates, filled the way it fills them for one pod.
    const query = rule.metricsQuery.replaceAll('<<.Series>>', series).replaceAll('<<.LabelMatchers>>', 'namespace="streamer",pod="p"').replaceAll('<<.GroupBy>>', 'pod');
    assert.deepEqual(unknownSeries(rule.seriesQuery), [], rule.seriesQuery);
    assert.deepEqual(unknownSeries(query), [], query);
  }
});
