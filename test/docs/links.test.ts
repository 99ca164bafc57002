// Every relative link in the project's Markdown resolves inside the repository (a user's clone has
// nothing else), and every #anchor names a heading of the file it points to.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(new URL('../../', import.meta.url).pathname);
const SKIP = new Set(['node_modules', '.git', 'test-artifacts', 'results']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = join(dir, name);
    return statSync(path).isDirectory() ? markdownFiles(path) : path.endsWith('.md') ? [path] : [];
  });
}

/** Inline links and images, outside code: `[text](target)` → target. */
export function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const slug = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

test('link and anchor parsing', () => {
  assert.deepEqual(linkTargets('see [a](docs/a.md#x), `[b](no.md)`, ![c](img.png "t") and [d](https://e.org)'), ['docs/a.md#x', 'img.png', 'https://e.org']);
  assert.deepEqual([...headingAnchors('# Set-up\n## Per-stage histograms (label `pipeline`)\n## Set-up\n```\n# not a heading\n```')], [
    'set-up',
    'per-stage-histograms-label-pipeline',
    'set-up-1',
  ]);
});

test('every relative link in the Markdown files resolves inside the repository', () => {
  const files = markdownFiles(root);
  assert.ok(files.some((f) => f.endsWith('docs/protocol.md')), 'docs/protocol.md is found');
  const broken: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const target of linkTargets(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const where = `${relative(root, file)} → ${target}`;
      const full = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!full.startsWith(root + '/') && full !== root) {
        broken.push(`${where}: outside the repository`);
      } else if (!existsSync(full)) {
        broken.push(`${where}: no such file`);
      } else if (anchor && full.endsWith('.md') && !headingAnchors(readFileSync(full, 'utf8')).has(anchor)) {
        broken.push(`${where}: no heading with that anchor`);
      }
    }
  }
  assert.deepEqual(broken, []);
});
