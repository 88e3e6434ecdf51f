// The dashboard in Debian's headless Chromium (playwright-core, pinned in package.json):
//   node dashboard.js URL TOKEN OUTDIR
// Logs in with the token, checks the node list, submits a job from the form, checks that its
// live view shows frames that change and that the delay plot gains points, stops the job from
// the page, and fails on any console error. Screenshots go to OUTDIR. Prints one line per
// check; exits 1 on the first failure.
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, tok, outdir] = process.argv.slice(2);
if (!url || !outdir) {
  console.error('usage: node dashboard.js URL TOKEN OUTDIR');
  process.exit(2);
}
fs.mkdirSync(outdir, { recursive: true });
const T = 60000; // the longest any one step may take (a loaded 2-core machine)
const errors = [];
let browser;

function ok(name) { console.log('ok: ' + name); }
async function shot(page, name) { await page.screenshot({ path: path.join(outdir, name), fullPage: true }); }

async function main() {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.setDefaultTimeout(T);

  await page.goto(url);
  await page.waitForFunction(() => /log in/.test(document.getElementById('conn').textContent));
  ok('the page asks for the token');
  await page.fill('#token', tok);
  await page.click('#login-btn');
  await page.waitForSelector('#nodes tr[data-node="edge"]');
  await page.waitForSelector('#nodes tr[data-node="cloud"]');
  const roles = await page.$$eval('#nodes tbody tr', (rs) => rs.map((r) => r.cells[0].textContent + ':' + r.cells[1].textContent));
  if (!roles.includes('edge:edge') || !roles.includes('cloud:cloud')) throw new Error('nodes listed: ' + roles);
  const stored = await page.evaluate(() => sessionStorage.getItem('vdag_token'));
  if (stored !== tok) throw new Error('the token is not in sessionStorage');
  ok('nodes listed with their roles: ' + roles.join(', '));
  await shot(page, 'dashboard-nodes.png');

  // the batch video the test uploaded, with its progress
  await page.waitForFunction(() => [...document.querySelectorAll('#videos tr[data-video]')]
    .some((r) => /vtest-batch/.test(r.textContent) && /done/.test(r.textContent) && /12 \/ 12/.test(r.textContent)));
  ok('the batch video is listed with its progress: ' + (await page.textContent('#videos tbody')));

  // submit from the form
  await page.waitForSelector('#s-video option[value="0"]', { state: 'attached' });
  await page.selectOption('#s-node', 'edge');
  await page.selectOption('#s-video', '0');
  await page.fill('#s-pipeline', 'object_detection');
  await page.selectOption('#s-scheduler', 'feedback');
  await page.fill('#s-delay', '0.3');
  await page.click('#submit-btn');
  await page.waitForFunction(() => /submitted: job/.test(document.getElementById('submit-msg').textContent));
  const job = (await page.textContent('#submit-msg')).replace(/.*job /, '').trim();
  await page.waitForSelector(`#jobs tr[data-job="${job}"]`);
  await page.waitForFunction(() => /EXEC/.test(document.getElementById('job-state').textContent));
  ok(`job ${job} submitted from the form runs`);
  await page.waitForSelector('#plan tr[data-stage="object_detection"]');
  ok('its plan is shown per stage: ' + (await page.textContent('#plan tr[data-stage="object_detection"]')));

  // the live view: an MJPEG <img> whose pixels change
  await page.waitForFunction(() => { const i = document.getElementById('live'); return i.complete !== undefined && i.naturalWidth > 0; });
  const img = await page.$('#live');
  const a = await img.screenshot();
  let changed = false;
  for (let i = 0; i < 40 && !changed; i++) {
    await page.waitForTimeout(250);
    changed = !a.equals(await img.screenshot());
  }
  if (!changed) throw new Error('the live view did not change in 10 s');
  fs.writeFileSync(path.join(outdir, 'live-view.png'), a);
  ok('the live view shows frames that change');

  // the plot gains points
  const pts = () => page.$eval('#timeline', (c) => Number(c.dataset.points || 0));
  await page.waitForFunction(() => Number(document.getElementById('timeline').dataset.points || 0) >= 3);
  const p1 = await pts();
  await page.waitForFunction((n) => Number(document.getElementById('timeline').dataset.points || 0) > n, p1);
  const p2 = await pts();
  ok(`the delay plot gains points (${p1} -> ${p2})`);
  await shot(page, 'dashboard-job.png');

  // a constraint changed from the page: the scheduler lowers the resolution (its first knob
  // when a job is over its bound), and the plot marks and labels that change
  await page.fill('#c-delay', '0.002');
  await page.click('#constraint-btn');
  await page.waitForFunction(() => /constraint changed/.test(document.getElementById('action-msg').textContent));
  await page.waitForFunction((j) => { const r = document.querySelector(`#jobs tr[data-job="${j}"]`); return r && /0\.002 s/.test(r.textContent); }, job);
  ok('the constraint changed from the page reaches the cloud');
  await page.waitForFunction(() => JSON.parse(document.getElementById('timeline').dataset.markers || '[]')
    .some((l) => /resolution /.test(l)), null, { timeout: 90000 });
  const marks = await page.$eval('#timeline', (c) => JSON.parse(c.dataset.markers));
  ok('the plot marks and labels the plan change: ' + marks.join(' | '));
  await shot(page, 'dashboard-plan-change.png');

  // stop from the page
  await page.click('#stop-btn');
  await page.waitForFunction(() => /DONE/.test(document.getElementById('job-state').textContent));
  await page.waitForFunction((j) => { const r = document.querySelector(`#jobs tr[data-job="${j}"]`); return r && /DONE stopped/.test(r.textContent); }, job);
  ok('a stop from the page ends the job (DONE stopped)');
  await shot(page, 'dashboard-stopped.png');
  await page.waitForTimeout(500);
  if (errors.length) throw new Error('console errors: ' + JSON.stringify(errors));
  ok('no console errors');
  console.log('JOB ' + job);
}

main().then(async () => { await browser.close(); process.exit(0); }, async (e) => {
  console.error('FAIL: ' + e.message);
  if (errors.length) console.error('console errors: ' + JSON.stringify(errors));
  try { const p = browser && browser.contexts()[0] && browser.contexts()[0].pages()[0]; if (p) await shot(p, 'failure.png'); } catch (x) { /* best effort */ }
  if (browser) await browser.close();
  process.exit(1);
});
