// The live microphone page: GET / (index.html) and its static assets under GET /page/<file>.
// The files in ./page/ are served as they are (no build step); they are read once, when the routes
// are created, and only the names listed below are served (no paths from the request reach the disk).
// The page streams through the client's own modules (src/client/, no Node APIs), served under
// /page/lib/<name>.js: the built JS when the service runs from dist/, else the TypeScript source
// with its types stripped, so that the page and the CLI share one implementation of moving and resuming.
import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { Hono } from 'hono';

const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'worklet.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const;

type AssetName = keyof typeof ASSETS;

/** The client modules the page imports: each imports (values) only from this list. */
export const CLIENT_MODULES = ['moving-stream', 'resume-filter', 'pcm-source', 'transport', 'browser-connection', 'stats-line', 'exposition'] as const;

// The page needs its own origin for scripts, styles, the worklet, /metrics and the websocket
// (`ws:`/`wss:` are listed because not every browser lets 'self' cover websockets).
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function pageRoutes(): Hono {
  const dir = new URL('./page/', import.meta.url);
  const files = new Map(
    (Object.keys(ASSETS) as AssetName[]).map((name) => [name, { body: readFileSync(new URL(name, dir)), type: ASSETS[name] }]),
  );
  const modules = new Map<string, string>(CLIENT_MODULES.map((name) => [`${name}.js`, clientModule(name)]));
  const headersFor = (type: string) => ({
    'content-type': type,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    ...(type.startsWith('text/html') ? { 'content-security-policy': CSP } : {}),
  });

  const app = new Hono();
  app.get('/', (c) => {
    const page = files.get('index.html')!;
    return c.body(page.body, 200, headersFor(page.type));
  });
  app.get('/page/lib/:file', (c) => {
    const body = modules.get(c.req.param('file'));
    if (!body) return c.notFound();
    return c.body(body, 200, headersFor('text/javascript; charset=utf-8'));
  });
  app.get('/page/:file', (c) => {
    const name = c.req.param('file');
    const asset = Object.hasOwn(ASSETS, name) ? files.get(name as AssetName) : undefined;
    if (!asset) return c.notFound();
    return c.body(asset.body, 200, headersFor(asset.type));
  });
  return app;
}

/** A client module as the browser loads it: ES module JavaScript whose relative imports end in `.js`. */
function clientModule(name: string): string {
  const dir = new URL('../client/', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return readFileSync(new URL(`${name}.js`, dir), 'utf8'); // built by tsc (dist/)
  const source = readFileSync(new URL(`${name}.ts`, dir), 'utf8');
  return stripTypes(source).replace(/(from\s*['"]\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1.js$2');
}

/**
 * Node 24 calls stripTypeScriptTypes experimental and says so on stderr once, in the middle of the
 * service's JSON log; the files are ours and erasable-only (tsconfig: erasableSyntaxOnly), so that one
 * warning is kept quiet.
 */
function stripTypes(source: string): string {
  const emitWarning: unknown = Reflect.get(process, 'emitWarning');
  Reflect.set(process, 'emitWarning', () => {});
  try {
    return stripTypeScriptTypes(source);
  } finally {
    Reflect.set(process, 'emitWarning', emitWarning);
  }
}
