// The vdag dashboard: plain JS over the cloud's API (docs/nodes.md, docs/openapi.yaml).
// The bearer token is kept in sessionStorage (this tab only); the live view is an <img> on a
// URL signed by GET /auth/sign_url, since an <img> cannot send the header.
'use strict';

const POLL_MS = 1000;     // nodes, jobs, videos
const JOB_POLL_MS = 500;  // the selected job's results
const MAX_POINTS = 2000;  // frames kept per job for the plots

const $ = (id) => document.getElementById(id);
const state = {
  auth: false,            // the server needs a token (GET /healthz says)
  connected: false,
  nodes: {},
  jobs: [],
  job: null,              // the selected job's uid
  series: {},             // uid -> {points: Map(key -> point), changes: [...]}
  liveFor: null,
  timers: [],
};

function token() { return sessionStorage.getItem('vdag_token') || ''; }

// A DOM element: el('td', {class: 'x'}, 'text', child...). Text is never parsed as HTML.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

class ApiError extends Error {
  constructor(http, body) {
    super((body && body.msg) || `HTTP ${http}`);
    this.http = http;
    this.body = body;
  }
}

async function api(method, path, body) {
  const h = {};
  if (token()) h.Authorization = 'Bearer ' + token();
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (!r.ok) throw new ApiError(r.status, j);
  return j;
}

function setConn(text, bad) {
  const c = $('conn');
  c.textContent = text;
  c.className = bad ? 'lost' : 'muted';
}

function fmtS(s) {
  if (typeof s !== 'number' || !isFinite(s)) return '–';
  return s < 1 ? (s * 1e3).toFixed(1) + ' ms' : s.toFixed(2) + ' s';
}
function pct(x) { return typeof x === 'number' ? (x * 100).toFixed(0) + '%' : '–'; }

// ---- nodes, jobs, videos ---------------------------------------------------------------

function renderNodes() {
  const tb = $('nodes').tBodies[0];
  tb.replaceChildren();
  for (const [name, n] of Object.entries(state.nodes)) {
    const r = n.resources || {};
    const age = n.last_seen_s;
    const services = Array.isArray(n.services) ? n.services : Object.keys(n.services || {});
    const videos = Object.entries(n.video || {}).map(([id, v]) => `${id} (${v.type || ''})`);
    tb.append(el('tr', { 'data-node': name },
      el('td', {}, name),
      el('td', { class: 'role-' + n.role }, n.role === 'cloud' ? 'cloud' : 'edge'),
      el('td', {}, n.addr || ''),
      el('td', { class: age > 2 ? 'lost' : '' }, typeof age === 'number' ? age.toFixed(1) + ' s ago' : '–'),
      el('td', {}, `${pct(r.cpu_ratio)} of ${r.n_cores || '?'} cores`),
      el('td', {}, r.mem_used_mb ? `${r.mem_used_mb.toFixed(0)} / ${r.mem_total_mb.toFixed(0)} MB` : '–'),
      el('td', {}, services.join(', ')),
      el('td', {}, videos.join(', ')),
      el('td', {}, (n.jobs || []).length)));
  }
  // the submit form's node and video choices: nodes with videos (edges)
  const sel = $('s-node');
  const edges = Object.entries(state.nodes).filter(([, n]) => n.role !== 'cloud');
  const want = edges.map(([k]) => k).join('\n');
  if (sel.dataset.list !== want) {
    const keep = sel.value;
    sel.replaceChildren(...edges.map(([k]) => el('option', { value: k }, k)));
    if (edges.some(([k]) => k === keep)) sel.value = keep;
    sel.dataset.list = want;
    renderVideos();
  }
}

function renderVideos() {
  const n = state.nodes[$('s-node').value];
  const sel = $('s-video');
  const ids = Object.keys((n && n.video) || {});
  const keep = sel.value;
  sel.replaceChildren(...ids.map((id) => el('option', { value: id }, `${id} (${n.video[id].type || ''})`)));
  if (ids.includes(keep)) sel.value = keep;
}

function renderJobs() {
  const tb = $('jobs').tBodies[0];
  tb.replaceChildren();
  for (const j of state.jobs) {
    const uc = j.user_constraint || {};
    const tr = el('tr', { class: 'job' + (j.job_uid === state.job ? ' selected' : ''), 'data-job': j.job_uid,
                          onclick: () => selectJob(j.job_uid) },
      el('td', {}, j.job_uid),
      el('td', {}, j.node_addr),
      el('td', {}, j.video_id),
      el('td', {}, el('span', { class: 'state ' + j.state }, j.state + (j.reason ? ' ' + j.reason : ''))),
      el('td', {}, j.scheduler),
      el('td', {}, `delay ≤ ${uc.delay ?? '–'} s, accuracy ${uc.accuracy ?? '–'}`),
      el('td', {}, (j.pipeline || []).join(' → ')),
      el('td', {}, j.frames),
      el('td', {}, fmtS(j.delay)),
      el('td', {}, j.state !== 'DONE' ? el('button', { type: 'button', class: 'stop', onclick: (ev) => { ev.stopPropagation(); stopJob(j.job_uid); } }, 'stop') : ''));
    tb.append(tr);
  }
}

function renderBatch(videos) {
  const tb = $('videos').tBodies[0];
  tb.replaceChildren();
  for (const v of videos) {
    const f = v.frames_expected > 0 ? Math.min(1, v.frames_processed / v.frames_expected) : 0;
    tb.append(el('tr', { 'data-video': v.video_id },
      el('td', {}, v.video_id), el('td', {}, v.name || ''), el('td', {}, v.state),
      el('td', {}, el('span', { class: 'bar' }, el('span', { style: `width:${(f * 100).toFixed(1)}%` })),
         ` ${v.frames_processed} / ${v.frames_expected}`)));
  }
  if (!videos.length) tb.append(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'none: upload with POST /videos or vdag batch submit')));
}

async function refresh() {
  try {
    const st = await api('GET', '/user/get_all_status');
    state.nodes = st.data || {};
    const js = await api('GET', '/user/jobs');
    state.jobs = js.jobs || [];
    state.connected = true;
    setConn(`connected: ${Object.keys(state.nodes).length} nodes, ${state.jobs.length} jobs`);
    renderNodes();
    renderJobs();
  } catch (e) {
    state.connected = false;
    setConn(e.http === 401 ? 'the token is missing or wrong: log in' : 'cannot reach the cloud: ' + e.message, true);
    if (e.http === 401) stopPolling();
    return;
  }
  try {
    renderBatch((await api('GET', '/videos')).videos || []);
  } catch (e) {
    renderBatch([]);
  }
}

// ---- the selected job -----------------------------------------------------------------

function selectJob(uid) {
  if (state.job !== uid) $('action-msg').textContent = '';
  state.job = uid;
  if (!state.series[uid]) state.series[uid] = { points: new Map(), changes: [] };
  $('job').hidden = false;
  $('job-uid').textContent = uid;
  renderJobs();
  startLive(uid);
  pollJob();
}

async function startLive(uid) {
  if (state.liveFor === uid) return;
  state.liveFor = uid;
  try {
    const r = await api('GET', '/auth/sign_url?ttl=3600&path=' + encodeURIComponent('/user/video/' + uid));
    if (state.liveFor === uid) $('live').src = r.url;
  } catch (e) {
    $('action-msg').textContent = 'live view: ' + e.message;
  }
}

// What changed from plan a to plan b: resolution, skipping, tracking, model, placement.
function planDiff(a, b) {
  if (!b) return [];
  if (!a) return ['first plan'];
  const out = [];
  const va = a.video_conf || {}, vb = b.video_conf || {};
  if (va.resolution !== vb.resolution) out.push(`resolution ${va.resolution}→${vb.resolution}`);
  if (va.nskip !== vb.nskip) out.push(`nskip ${va.nskip}→${vb.nskip}`);
  if (va.ntracking !== vb.ntracking) out.push(`ntracking ${va.ntracking}→${vb.ntracking}`);
  for (const [s, m] of Object.entries(b.flow_mapping || {})) {
    const o = (a.flow_mapping || {})[s] || {};
    if (o.model_id !== m.model_id) out.push(`${s} model ${o.model_id}→${m.model_id}`);
    const on = o.node || o.node_ip, nn = m.node || m.node_ip;
    if (on !== nn) out.push(`${s} on ${on}→${nn}`);
  }
  return out;
}

async function pollJob() {
  const uid = state.job;
  if (!uid) return;
  let r;
  try {
    r = await api('GET', '/user/sync_job_result/' + encodeURIComponent(uid));
  } catch (e) {
    $('job-msg').textContent = e.message;
    return;
  }
  if (uid !== state.job) return;
  const job = r.job || {}, res = r.result || {};
  const ser = state.series[uid];
  for (const a of res.appended_result || []) {
    const key = `${a.n_loop}:${a.cam_frame_id}`;
    if (!ser.points.has(key))
      ser.points.set(key, { n: a.n_loop, delay: a.total_frame_delay, version: a.plan_version || 0,
                            counts: a.count_result || {} });
  }
  while (ser.points.size > MAX_POINTS) ser.points.delete(ser.points.keys().next().value);
  ser.changes = res.plan_changes || [];
  ser.bound = (job.user_constraint || {}).delay;
  const st = $('job-state');
  st.textContent = job.state + (job.reason ? ' ' + job.reason : '');
  st.className = 'state ' + job.state;
  $('job-msg').textContent = job.msg || '';
  $('stop-btn').disabled = job.state === 'DONE';
  renderPlan(res.latest_result || {}, job);
  const uc = job.user_constraint || {};
  for (const [id, k] of [['c-delay', 'delay'], ['c-accuracy', 'accuracy']])
    if (document.activeElement !== $(id) && uc[k] !== undefined) $(id).value = uc[k];
  drawTimeline(ser);
  drawCounts(ser);
}

function renderPlan(latest, job) {
  const plan = latest.plan || {}, pr = latest.plan_result || {};
  const vc = plan.video_conf || {};
  $('plan-version').textContent = `v${job.plan_version ?? '?'}` +
    (latest.plan_version !== undefined && latest.plan_version !== job.plan_version ? ` (results of v${latest.plan_version})` : '');
  $('video-conf').textContent = plan.video_conf ?
    `resolution ${vc.resolution}, fps ${vc.fps || 'native'}, nskip ${vc.nskip}, ntracking ${vc.ntracking}; ` +
    `total ${fmtS(pr.total_delay)}, load ${typeof pr.load === 'number' ? pr.load.toFixed(2) : '–'}, dropped ${pr.dropped ?? 0}` : 'no plan yet';
  const tb = $('plan').tBodies[0];
  tb.replaceChildren();
  for (const [s, m] of Object.entries(plan.flow_mapping || {}))
    tb.append(el('tr', { 'data-stage': s }, el('td', {}, s), el('td', {}, m.model_id),
      el('td', {}, `${m.node || m.node_ip} (${m.node_role || ''})`), el('td', {}, fmtS((pr.delay || {})[s]))));
}

// ---- plots (canvas, no library) --------------------------------------------------------

const COLORS = ['#1a56db', '#047857', '#b45309', '#7c3aed', '#be185d', '#0e7490'];

function axes(ctx, w, h, pad, xmin, xmax, ymax, ylabel) {
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#999';
  ctx.fillStyle = '#555';
  ctx.font = '11px sans-serif';
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, h - pad.b); ctx.lineTo(w - pad.r, h - pad.b);
  ctx.stroke();
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4, y = h - pad.b - (h - pad.t - pad.b) * i / 4;
    ctx.fillText(ylabel(v), 2, y + 4);
  }
  ctx.fillText(`frame ${xmin}`, pad.l, h - 4);
  ctx.fillText(`${xmax}`, w - pad.r - 30, h - 4);
}

function drawTimeline(ser) {
  const c = $('timeline'), ctx = c.getContext('2d');
  const w = c.width, h = c.height, pad = { l: 60, r: 10, t: 34, b: 20 };
  const pts = [...ser.points.values()].sort((a, b) => a.n - b.n);
  c.dataset.points = pts.length;
  c.dataset.changes = ser.changes.length;
  const bound = typeof ser.bound === 'number' ? ser.bound : 0;
  const ymax = Math.max(bound * 1.2, ...pts.map((p) => p.delay || 0), 1e-3);
  const xmin = pts.length ? pts[0].n : 0, xmax = pts.length ? Math.max(pts[pts.length - 1].n, xmin + 1) : 1;
  axes(ctx, w, h, pad, xmin, xmax, ymax, fmtS);
  const X = (n) => pad.l + (w - pad.l - pad.r) * (n - xmin) / (xmax - xmin);
  const Y = (v) => h - pad.b - (h - pad.t - pad.b) * Math.min(v, ymax) / ymax;
  if (bound > 0) {
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = '#b91c1c';
    ctx.beginPath(); ctx.moveTo(pad.l, Y(bound)); ctx.lineTo(w - pad.r, Y(bound)); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#b91c1c';
    ctx.fillText(`bound ${fmtS(bound)}`, w - pad.r - 90, Y(bound) - 4);
  }
  // plan changes: at the first frame a new plan produced, labelled with what changed
  const byVersion = new Map(ser.changes.map((ch) => [ch.plan_version, ch]));
  let prevV = null, prevPlan = null;
  const labels = [], rowEnd = [0, 0, 0]; // a label goes in the first row with room for it
  for (const p of pts) {
    if (prevV !== null && p.version !== prevV) {
      const ch = byVersion.get(p.version);
      const prev = byVersion.get(prevV);
      const why = ch ? ch.why + (ch.reason && ch.reason !== 'none' ? ` (${ch.reason})` : '') : '';
      const what = ch ? [why, ...planDiff(prev ? prev.plan : prevPlan, ch.plan)].join(', ') : `plan v${p.version}`;
      ctx.strokeStyle = '#7c3aed';
      ctx.beginPath(); ctx.moveTo(X(p.n), pad.t); ctx.lineTo(X(p.n), h - pad.b); ctx.stroke();
      ctx.fillStyle = '#7c3aed';
      const text = `v${p.version}: ${what}`, tw = ctx.measureText(text).width;
      const x = Math.min(X(p.n) + 3, w - tw - 2), row = rowEnd.findIndex((e) => e <= x);
      if (row >= 0) {
        ctx.fillText(text, x, 10 + 10 * row);
        rowEnd[row] = x + tw + 6;
      }
      labels.push(`v${p.version}: ${what}`);
      if (ch) prevPlan = ch.plan;
    }
    prevV = p.version;
  }
  c.dataset.markers = JSON.stringify(labels); // what the plot shows, for tests and tooltips
  c.title = labels.join('\n');
  ctx.fillStyle = '#1a56db';
  for (const p of pts) ctx.fillRect(X(p.n) - 1.5, Y(p.delay || 0) - 1.5, 3, 3);
}

function drawCounts(ser) {
  const c = $('counts'), ctx = c.getContext('2d');
  const w = c.width, h = c.height, pad = { l: 60, r: 110, t: 10, b: 20 };
  const pts = [...ser.points.values()].sort((a, b) => a.n - b.n);
  const keys = new Map();
  for (const p of pts) for (const [k, v] of Object.entries(p.counts)) if (typeof v === 'number') keys.set(k, (keys.get(k) || 0) + v);
  const top = [...keys.entries()].sort((a, b) => b[1] - a[1]).slice(0, COLORS.length).map(([k]) => k);
  const ymax = Math.max(1, ...pts.flatMap((p) => top.map((k) => p.counts[k] || 0)));
  const xmin = pts.length ? pts[0].n : 0, xmax = pts.length ? Math.max(pts[pts.length - 1].n, xmin + 1) : 1;
  axes(ctx, w, h, pad, xmin, xmax, ymax, (v) => v.toFixed(1));
  const X = (n) => pad.l + (w - pad.l - pad.r) * (n - xmin) / (xmax - xmin);
  const Y = (v) => h - pad.b - (h - pad.t - pad.b) * v / ymax;
  top.forEach((k, i) => {
    ctx.strokeStyle = ctx.fillStyle = COLORS[i];
    ctx.beginPath();
    pts.forEach((p, j) => { const f = j ? 'lineTo' : 'moveTo'; ctx[f](X(p.n), Y(p.counts[k] || 0)); });
    ctx.stroke();
    ctx.fillText(k, w - pad.r + 8, pad.t + 12 + 14 * i);
  });
}

// ---- actions -------------------------------------------------------------------------

async function stopJob(uid) {
  try {
    await api('POST', '/user/stop_job/' + encodeURIComponent(uid));
    $('action-msg').textContent = `job ${uid} stopped`;
  } catch (e) {
    $('action-msg').textContent = e.message;
  }
  await refresh();
  if (state.job === uid) pollJob();
}

async function submit(ev) {
  ev.preventDefault();
  const body = { node_addr: $('s-node').value, video_id: $('s-video').value, scheduler: $('s-scheduler').value,
                 user_constraint: { delay: Number($('s-delay').value), accuracy: Number($('s-accuracy').value) } };
  const dag = $('s-dag').value.trim();
  try {
    if (dag) body.dag = JSON.parse(dag);
    else body.pipeline = $('s-pipeline').value.split(',').map((s) => s.trim()).filter(Boolean);
  } catch (e) {
    $('submit-msg').textContent = 'the DAG is not JSON: ' + e.message;
    return;
  }
  if ($('s-max').value) body.max_frames = Number($('s-max').value);
  try {
    const r = await api('POST', '/query/submit_query', body);
    $('submit-msg').textContent = `submitted: job ${r.job_uid}`;
    await refresh();
    selectJob(r.job_uid);
  } catch (e) {
    $('submit-msg').textContent = e.message;
  }
}

async function changeConstraint(ev) {
  ev.preventDefault();
  if (!state.job) return;
  try {
    await api('POST', '/user/submit_job_user_constraint', { job_uid: state.job,
      user_constraint: { delay: Number($('c-delay').value), accuracy: Number($('c-accuracy').value) } });
    $('action-msg').textContent = 'constraint changed: applies at the next re-plan';
  } catch (e) {
    $('action-msg').textContent = e.message;
  }
}

function stopPolling() {
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
}

function startPolling() {
  stopPolling();
  refresh();
  state.timers.push(setInterval(refresh, POLL_MS), setInterval(pollJob, JOB_POLL_MS));
}

async function init() {
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem('vdag_token', $('token').value);
    $('token').value = '';
    state.liveFor = null;
    if (state.job) startLive(state.job);
    startPolling();
  });
  $('logout-btn').addEventListener('click', () => {
    sessionStorage.removeItem('vdag_token');
    stopPolling();
    $('live').removeAttribute('src');
    state.liveFor = null;
    setConn('logged out', true);
  });
  $('submit').addEventListener('submit', submit);
  $('s-node').addEventListener('change', renderVideos);
  $('constraint').addEventListener('submit', changeConstraint);
  $('stop-btn').addEventListener('click', () => state.job && stopJob(state.job));
  try {
    const h = await (await fetch('/healthz')).json();
    state.auth = !!h.auth;
  } catch (e) {
    setConn('cannot reach the cloud', true);
    return;
  }
  if (state.auth && !token()) setConn('this cloud needs its token: log in', true);
  else startPolling();
}

init();
