// N headless Chromium browsers open on the dashboard's page of one job, for bench/dash_load.sh:
//   NODE_PATH=tests/web/node_modules node bench/dash_load.js URL JOB N
// Each browser (a process of its own) loads URL, selects the job (its live view, plan and plots
// then poll as a user's would) and waits until its live view shows a frame; then "READY N" is
// printed and the browsers stay until SIGTERM or SIGINT.
const { chromium } = require('playwright-core');

const [url, job, n] = process.argv.slice(2);
if (!url || !job || !n) {
  console.error('usage: node dash_load.js URL JOB N');
  process.exit(2);
}
const browsers = [];

async function open() {
  const b = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  browsers.push(b);
  const page = await b.newPage({ viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(60000);
  await page.goto(url);
  await page.click(`#jobs tr[data-job="${job}"]`);
  await page.waitForFunction(() => { const i = document.getElementById('live'); return i && i.naturalWidth > 0; });
}

async function close() {
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  process.exit(0);
}
process.on('SIGTERM', close);
process.on('SIGINT', close);

(async () => {
  for (let i = 0; i < Number(n); i++) await open();
  console.log('READY ' + browsers.length);
})().catch(async (e) => {
  console.error('FAIL: ' + e.message);
  await Promise.all(browsers.map((b) => b.close().catch(() => {})));
  process.exit(1);
});
