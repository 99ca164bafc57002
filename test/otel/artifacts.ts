// Loads the operator artifacts in otel/ for the tests: YAML parsing, alert rules, dashboard
// panels and every PromQL expression they contain.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const OTEL_DIR = fileURLToPath(new URL('../../otel/', import.meta.url));

export const readOtel = (name: string): string => readFileSync(`${OTEL_DIR}${name}`, 'utf8');

export interface YamlParser {
  name: string;
  load(text: string): unknown;
}

let parser: YamlParser | null | undefined;

/**
 * A YAML parser, without adding a dependency: js-yaml from node_modules (present through
 * eslint -> @eslint/eslintrc; not a direct dependency of this package), else PyYAML through
 * python3. null when neither is available.
 */
export function yamlParser(): YamlParser | null {
  if (parser !== undefined) return parser;
  try {
    const jsYaml = createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };
    parser = { name: 'js-yaml (node_modules)', load: (text) => jsYaml.load(text) };
  } catch {
    try {
      execFileSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' });
      parser = {
        name: 'python3 PyYAML',
        load: (text) =>
          JSON.parse(
            execFileSync('python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], {
              input: text,
              encoding: 'utf8',
            }),
          ) as unknown,
      };
    } catch {
      parser = null;
    }
  }
  return parser;
}

export function loadYaml(name: string): unknown {
  const p = yamlParser();
  if (!p) throw new Error('no YAML parser: neither js-yaml in node_modules nor python3 with PyYAML');
  return p.load(readOtel(name));
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

export function alertGroups(): RuleGroup[] {
  const doc = loadYaml('alerts.yml') as { groups?: RuleGroup[] };
  if (!Array.isArray(doc?.groups)) throw new Error('otel/alerts.yml: no groups');
  return doc.groups;
}

export interface Target {
  expr?: string;
  refId?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos?: { h: number; w: number; x: number; y: number };
}

export interface Dashboard {
  schemaVersion: number;
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
  __inputs?: { name: string; type: string; pluginId: string }[];
}

export const dashboard = (): Dashboard => JSON.parse(readOtel('dashboard.json')) as Dashboard;

/** Every panel, with the panels nested in collapsed rows. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface Expr {
  /** Where it comes from, for messages: `alerts.yml ModelRtfHigh`, `dashboard.json "RTF quantiles by stage" B`. */
  source: string;
  expr: string;
}

/**
 * The recording rules of otel/slo-rules.yml (the SLIs over each window; its alerts read these
 * recorded series, which the service does not export, and are tested by promtool).
 */
export function sloRecordingRules(): Expr[] {
  const doc = loadYaml('slo-rules.yml') as { groups: { rules: { record?: string; expr: string; labels?: Record<string, string> }[] }[] };
  return doc.groups.flatMap((g) => g.rules.filter((r) => r.record).map((r) => ({ source: `slo-rules.yml ${r.record}{slo="${r.labels?.slo}"}`, expr: r.expr })));
}

/** Every PromQL expression in otel/alerts.yml, otel/dashboard.json (not the Grafana variable queries) and the SLO recording rules. */
export function allExprs(): Expr[] {
  const alerts = alertGroups().flatMap((g) => g.rules.map((r) => ({ source: `alerts.yml ${r.alert}`, expr: String(r.expr) })));
  const panels = allPanels(dashboard()).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ source: `dashboard.json "${p.title}" ${t.refId ?? ''}`.trimEnd(), expr: t.expr ?? '' })),
  );
  return [...alerts, ...panels, ...sloRecordingRules()];
}
