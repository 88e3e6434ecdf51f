// Drive page.html in Debian's headless Chromium: serve human, the TF.js wasm binaries, the
// cached models and the frames from one cross-origin-isolated origin (COOP/COEP, so the
// wasm backend may use threads: Node's wasm backend has no thread support), run one task,
// print its result as one JSON line.
//   node run.js TASK FRAMES.rgb WIDTH HEIGHT N [THREADS]   (TASK: centernet | nanodet | faces)
const http = require('http');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [task, frames, w, h, n, threads = '2'] = process.argv.slice(2);
if (!task || !frames || !w || !h || !n) {
  console.error('usage: node run.js TASK FRAMES.rgb WIDTH HEIGHT N [THREADS]');
  process.exit(2);
}
const cache = process.env.VDAG_CACHE || path.join(process.env.HOME, '.cache', 'vdag');
const nm = path.join(__dirname, 'node_modules');
const roots = {
  '/human/': path.join(nm, '@vladmandic/human/dist'),
  '/wasm/': path.join(nm, '@tensorflow/tfjs-backend-wasm/dist'),
  '/models/': path.join(cache, 'models'),
};
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.html': 'text/html' };

const server = http.createServer((req, res) => {
  const url = decodeURIComponent(req.url.split('?')[0]);
  let file = null;
  if (url === '/' || url === '/page.html') file = path.join(__dirname, 'page.html');
  else if (url === '/frames.rgb') file = path.resolve(frames);
  else for (const [pre, dir] of Object.entries(roots))
    if (url.startsWith(pre)) {
      const f = path.resolve(dir, url.slice(pre.length));
      if (f.startsWith(dir + path.sep)) file = f;
    }
  if (!file || !fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, {
    'Content-Type': types[path.extname(file)] || 'application/octet-stream',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
  });
  fs.createReadStream(file).pipe(res);
});

server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', `--renderer-process-limit=1`],
  });
  let code = 0;
  try {
    const page = await browser.newPage();
    // navigator.hardwareConcurrency is what TF.js-wasm sizes its thread pool by
    await page.addInitScript((t) => Object.defineProperty(navigator, 'hardwareConcurrency', { get: () => t }), +threads);
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(`http://127.0.0.1:${port}/page.html?task=${task}&w=${w}&h=${h}&n=${n}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 900000, polling: 500 });
    const r = await page.evaluate(() => window.benchResult);
    if (r.error) { console.error(r.error); code = 1; }
    console.log(JSON.stringify(r));
  } catch (e) {
    console.error(String(e));
    code = 1;
  }
  await browser.close();
  server.close();
  process.exit(code);
});
