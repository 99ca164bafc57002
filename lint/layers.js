// The import direction of src/ as a lint rule (`layers/direction` in eslint.config.js). Each file
// of src/ belongs to one group; a group may import from its own files and from any group in a row
// below its own, never from a row above or from another group of its own row. A file of src/ that is
// in no group is reported, so that a new one gets its place here. Only relative imports are looked
// at (packages are not layers); each is resolved to the file it names.
// (Plain JavaScript, like eslint.config.js, so that any Node that runs ESLint can load it.)
import path from 'node:path';

/**
 * @typedef {object} Group
 * @property {string} name
 * @property {string[]} paths under src/: a folder ends in '/', anything else is one file
 */

/** @type {Group[][]} The rows, top down. */
export const LAYERS = [
  // What assembles the service (and the config schema and its doc, which read the pipeline's limits).
  [{ name: 'service', paths: ['main.ts', 'service.ts', 'known-labels.ts', 'config.ts', 'config-doc.ts'] }],
  [{ name: 'api', paths: ['api/'] }],
  [{ name: 'pipeline', paths: ['pipeline/'] }],
  // The stages: the VAD and the models do not know each other; both take audio in its formats.
  [
    { name: 'vad', paths: ['vad/'] },
    { name: 'model', paths: ['model/'] },
  ],
  [{ name: 'audio', paths: ['audio/'] }],
  // The task wrapper, and the context that hands it (with the telemetry) to every part.
  [{ name: 'task', paths: ['task.ts', 'task-pool.ts', 'task-worker.ts', 'task-timing.ts', 'context.ts'] }],
  // The log stamps trace ids, so it sits on telemetry.
  [{ name: 'log', paths: ['log.ts'] }],
  // Leaves: nothing from the app. cli.ts is the command-line tools' flag parsing.
  [
    { name: 'telemetry', paths: ['telemetry/'] },
    { name: 'cli', paths: ['cli.ts'] },
  ],
];

/**
 * Outside the rows: the client package (the CLI's and the page's). It speaks the wire format from
 * the other side, so it may import protocol.ts, for types only (the page loads client modules in the
 * browser, where nothing else of the service exists), and the CLI's flag parsing.
 */
/** @type {Group} */
const CLIENT = { name: 'client', paths: ['client/'] };

/** Imports the rows do not allow, each with its reason (`to` is a path under src/). */
export const EXCEPTIONS = [
  { from: ['client'], to: 'api/protocol.ts', typesOnly: true, why: 'the client reads and writes the wire format' },
  { from: ['client', 'model'], to: 'cli.ts', typesOnly: false, why: 'command-line tools (client/cli.ts, model/whisper/fetch-cli.ts) parse flags alike' },
  { from: ['api'], to: 'config.ts', typesOnly: true, why: 'the edge reads the config\'s limits and auth sections as the schema types them' },
  { from: ['model'], to: 'config.ts', typesOnly: true, why: 'each backend\'s options are its section of the config schema, typed by it' },
];

const groups = [...LAYERS.flat(), CLIENT];
const src = path.join(import.meta.dirname, '..', 'src');

/** @param {string} rel a path under src/ */
function groupOf(rel) {
  return groups.find((g) => g.paths.some((p) => (p.endsWith('/') ? rel.startsWith(p) : rel === p)));
}

/** @param {Group} g @returns {number | undefined} its row (0 = top); none for the client */
const rowOf = (g) => {
  const i = LAYERS.findIndex((row) => row.includes(g));
  return i < 0 ? undefined : i;
};

/** @param {Group} from @param {Group} to @param {string} target @param {boolean} typesOnly */
function allowed(from, to, target, typesOnly) {
  if (from === to) return true;
  const a = rowOf(from);
  const b = rowOf(to);
  if (a !== undefined && b !== undefined && b > a) return true;
  return EXCEPTIONS.some((e) => e.from.includes(from.name) && e.to === target && (typesOnly || !e.typesOnly));
}

const direction = LAYERS.map((row) => row.map((g) => g.name).join(', ')).join(' → ');

/** `import type …`, `export type … from`, or every named part marked `type`. */
function isTypeOnly(node) {
  if (node.importKind === 'type' || node.exportKind === 'type') return true;
  const parts = node.specifiers ?? [];
  return parts.length > 0 && parts.every((s) => s.importKind === 'type' || s.exportKind === 'type');
}

/** @type {import('eslint').Rule.RuleModule} */
export const directionRule = {
  meta: {
    type: 'problem',
    docs: { description: `imports in src/ run one way: ${direction}; the client package stands apart` },
    schema: [],
    messages: {
      upward: '{{from}} may not import {{target}} ({{to}}): imports in src/ run {{direction}} (lint/layers.js)',
      unplaced: '{{file}} is in no layer: give it a place in lint/layers.js',
    },
  },
  create(context) {
    const file = path.relative(src, context.filename).split(path.sep).join('/');
    if (file.startsWith('..') || path.isAbsolute(file)) return {};
    const from = groupOf(file);
    if (!from) {
      return { Program: (node) => context.report({ node, messageId: 'unplaced', data: { file: `src/${file}` } }) };
    }
    const check = (node) => {
      const spec = node.source?.type === 'Literal' ? node.source.value : undefined;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = path.relative(src, path.resolve(path.dirname(context.filename), spec)).split(path.sep).join('/');
      if (target.startsWith('..')) return; // outside src/ (package.json, docs): not a layer
      const to = groupOf(target);
      if (!to) return context.report({ node, messageId: 'unplaced', data: { file: `src/${target}` } });
      if (!allowed(from, to, target, isTypeOnly(node))) {
        context.report({ node, messageId: 'upward', data: { from: `src/${file}`, target: `src/${target}`, to: to.name, direction } });
      }
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};

export default { rules: { direction: directionRule } };
