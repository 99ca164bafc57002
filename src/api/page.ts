// The live microphone page: GET / (index.html) and its static assets under GET /page/<file>.
// The files in ./page/ are served as they are (no build step); they are read once, when the routes
// are created, and only the names listed below are served (no paths from the request reach the disk).
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';

const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'worklet.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const;

type AssetName = keyof typeof ASSETS;

// The page needs its own origin for scripts, styles, the worklet, /metrics and the websocket
// (`ws:`/`wss:` are listed because not every browser lets 'self' cover websockets).
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function pageRoutes(): Hono {
  const dir = new URL('./page/', import.meta.url);
  const files = new Map(
    (Object.keys(ASSETS) as AssetName[]).map((name) => [name, { body: readFileSync(new URL(name, dir)), type: ASSETS[name] }]),
  );
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
  app.get('/page/:file', (c) => {
    const name = c.req.param('file');
    const asset = Object.hasOwn(ASSETS, name) ? files.get(name as AssetName) : undefined;
    if (!asset) return c.notFound();
    return c.body(asset.body, 200, headersFor(asset.type));
  });
  return app;
}
