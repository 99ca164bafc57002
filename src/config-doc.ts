// docs/configuration.md, generated from the config schema (src/config.ts): every key with its
// default, the values it takes and what it does, so that the doc cannot drift from the code.
// `npm run docs:config` rewrites the file; test/docs/configuration.test.ts fails while it is stale.
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from './config.ts';

/** The part of a JSON Schema (draft 2020-12, as zod writes it) that the doc reads. */
interface Schema {
  type?: string;
  description?: string;
  shownDefault?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  minItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  oneOf?: Schema[];
}

interface Row {
  key: string;
  default: string;
  values: string;
  meaning: string;
}

const SECTIONS: Record<string, string> = {
  '': 'The server',
  model: 'The model',
  vad: 'Voice activity detection (segmented route)',
  limits: 'Limits',
  pipeline: 'Pipeline',
  shutdown: 'Shutdown',
  auth: 'Auth',
  telemetry: 'Telemetry',
};

const INTRO = `# Configuration

<!-- Generated from the schema in src/config.ts by \`npm run docs:config\`: edit the schema, not this file. -->

Defaults live in code (\`src/config.ts\`). Override them with a JSON file given as
\`--config FILE\` or \`--config=FILE\` (e.g. \`npm start -- --config my.json\`) or \`STREAMER_CONFIG=FILE\`;
the environment variables \`HOST\`, \`PORT\`, \`LOG_LEVEL\` and \`STREAMER_TOKENS\` override the file
(\`npm start -- --help\` lists all of this). A key is written as its path: \`limits.max_streams\` is
\`{"limits": {"max_streams": 600}}\` in the file. The config is validated at start-up: an unknown key
or a bad value stops the server with exit status 2 and a message naming the key, and the
environment variable when the value came from one (\`model.delay: Too small: expected number to be >=0\`;
\`log_level: Invalid option: … (from the environment variable LOG_LEVEL)\`).
`;

const code = (v: unknown) => `\`${JSON.stringify(v)}\``;
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** The values a key takes, from its JSON Schema: `integer ≥ 1, ≤ 64`, `"matmul" or "original"`, … */
function values(s: Schema): string {
  if (s.enum) return s.enum.map(code).join(', ');
  if (s.const !== undefined) return code(s.const);
  if (s.type === 'array') return `list of ${s.items ? values(s.items) : 'values'}${s.minItems ? ` (at least ${s.minItems})` : ''}`;
  if (s.type === 'string') return s.minLength && s.minLength > 1 ? `text (at least ${s.minLength} characters)` : 'text';
  const bounds = [
    s.minimum !== undefined && s.minimum > -MAX_SAFE ? `≥ ${s.minimum}` : '',
    s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : '',
    s.maximum !== undefined && s.maximum < MAX_SAFE ? `≤ ${s.maximum}` : '',
    s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : '',
  ].filter(Boolean);
  return [s.type ?? 'any', bounds.join(', ')].filter(Boolean).join(' ');
}

function defaultOf(s: Schema): string {
  if (s.shownDefault !== undefined) return s.shownDefault;
  if (s.const !== undefined && s.default === undefined) return 'required';
  return s.default === undefined ? '(unset)' : code(s.default);
}

function rows(properties: Record<string, Schema>, prefix: string): Row[] {
  return Object.entries(properties).map(([name, s]) => {
    if (!s.description) throw new Error(`config key ${prefix}${name} has no description in src/config.ts (.meta(doc(…)))`);
    return { key: `${prefix}${name}`, default: defaultOf(s), values: values(s), meaning: s.description };
  });
}

function table(list: Row[]): string {
  const lines = ['| key | default | values | meaning |', '|---|---|---|---|'];
  for (const r of list) lines.push(`| \`${r.key}\` | ${cell(r.default)} | ${cell(r.values)} | ${cell(r.meaning)} |`);
  return lines.join('\n');
}

/** The whole of docs/configuration.md. */
export function configurationDoc(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Schema;
  const parts = [INTRO];
  const top: Record<string, Schema> = {};
  for (const [name, s] of Object.entries(root.properties ?? {})) {
    if (s.properties || s.oneOf) continue;
    top[name] = s;
  }
  parts.push(`## ${SECTIONS['']}\n\n${table(rows(top, ''))}`);
  for (const [name, s] of Object.entries(root.properties ?? {})) {
    if (!s.properties && !s.oneOf) continue; // in the first table
    const title = SECTIONS[name];
    if (!title) throw new Error(`config section ${name} has no title in src/config-doc.ts`);
    if (s.oneOf) {
      // The model: one table per backend, `backend` picking the variant.
      parts.push(`## ${title}\n\n\`${name}.backend\` picks the backend; each takes its own keys. [models/README.md](../models/README.md) says what each backend does and costs.`);
      for (const variant of s.oneOf) {
        const backend = variant.properties?.backend;
        const label = String(backend?.const ?? backend?.default);
        parts.push(`### \`${label}\`${backend?.default !== undefined ? ' (the default)' : ''}\n\n${table(rows(variant.properties ?? {}, `${name}.`))}`);
      }
    } else {
      parts.push(`## ${title}\n\n${table(rows(s.properties ?? {}, `${name}.`))}`);
    }
  }
  return `${parts.join('\n\n')}\n`;
}

export const CONFIGURATION_DOC = new URL('../docs/configuration.md', import.meta.url);

if (import.meta.main) {
  writeFileSync(CONFIGURATION_DOC, configurationDoc());
  console.log(`wrote ${CONFIGURATION_DOC.pathname}`);
}
