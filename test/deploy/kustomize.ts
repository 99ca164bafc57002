// `kubectl kustomize` where a recent enough kubectl is installed: renders a kustomization the way
// `kubectl apply -k` would, to check what only the rendering shows (hashed generator names written
// into the Deployment, patches that match). CI's Debian has no kubectl recent enough for
// components, so these checks skip there; the offline checks read the same fields from the files.
import { spawnSync } from 'node:child_process';
import yaml from 'js-yaml';

/** Why rendering cannot run here, or false when it can. */
export function kustomizeMissing(): string | false {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'kubectl not installed: the rendering is not checked here (the offline checks read the same fields from the files)';
  // Components need kustomize ≥ 3.7; kubectl 1.21+ embeds kustomize 4 or later.
  const major = Number(/Kustomize Version: v(\d+)/.exec(r.stdout)?.[1] ?? 0);
  if (major < 4) return `kubectl's kustomize is too old for components (${r.stdout.trim().split('\n').join('; ')})`;
  return false;
}

export interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The objects `kubectl apply -k path` would apply. Overlays in temp directories reach the repo's files. */
export function kustomize(path: string): Rendered[] {
  const r = spawnSync('kubectl', ['kustomize', '--load-restrictor=LoadRestrictionsNone', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${path} failed: ${r.stderr || String(r.error)}`);
  return yaml.loadAll(r.stdout) as Rendered[];
}
