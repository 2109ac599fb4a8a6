// Relay operator console. Plain browser JavaScript, no build step. All data is rendered through text nodes
// (el() below never parses HTML), because hostnames and rejection reasons come from untrusted PDSes.
'use strict';

// The admin API's types, from its one declaration (services/contract.ts); `npm test` type-checks this file.
/** @typedef {import('../../../services/contract.ts').AdminApi} AdminApi */
/** @typedef {import('../../../services/contract.ts').AdminHost} AdminHost */
/** @typedef {import('../../../services/contract.ts').ConsumerView} ConsumerView */
/** @typedef {import('../../../services/contract.ts').RelayStats} RelayStats */
/** @typedef {import('../../../services/contract.ts').CollectionsView} CollectionsView */
/** @typedef {import('../../../services/contract.ts').RatesView} RatesView */
/** @typedef {import('../../../services/contract.ts').RateWindow} RateWindow */
/**
 * @template {keyof AdminApi} K
 * @typedef {import('../../../services/contract.ts').ResponseOf<AdminApi[K]>} ApiResponse
 */

const KEY = 'relay-admin-password';
/** @type {(id: string) => any} */
const $ = (id) => document.getElementById(id);

/** Builds an element; string and number children become text nodes, never markup. */
function el(tag, attrs, ...children) {
  const svg = ['svg', 'polyline', 'line', 'text', 'g'].includes(tag);
  const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.setAttribute('class', v);
    else if (k in node && !svg) node[k] = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return node;
}

function ago(iso) {
  if (!iso) return '-';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(0, s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

class Unauthorized extends Error {}

/**
 * Calls the admin API; the caller names the answer's type (`ApiResponse<'listHosts'>`).
 * @param {'GET' | 'POST' | 'DELETE'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function api(method, path, body) {
  const password = sessionStorage.getItem(KEY) || '';
  const res = await fetch(path, {
    method,
    // Not 'include': a 401 then never opens the browser's own Basic-auth dialog.
    credentials: 'same-origin',
    headers: { authorization: `Bearer ${password}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  if (res.status === 401) throw new Unauthorized(json?.message || 'wrong password');
  if (!res.ok) throw new Error(`${json?.error || `HTTP ${res.status}`}: ${json?.message || ''}`);
  return json;
}

// ---- flash messages -------------------------------------------------------------------------------------------

let flashTimer = 0;
/** What an action did; a failure is shown beside what was clicked instead (act below). */
function flash(text) {
  const f = $('flash');
  f.textContent = text;
  f.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => (f.hidden = true), 4000);
}

/**
 * Why an operator's action failed, shown beside what they clicked (a host's row, a form) until their next action
 * there: the host name or form id → the message.
 */
const actionErrors = new Map();

/** @param {string} where */
function actionError(where) {
  const message = actionErrors.get(where);
  return message ? el('div', { class: 'action-error', role: 'alert' }, message) : null;
}

function renderFormErrors() {
  for (const id of ['add-host', 'ban-domain']) $(`${id}-error`).textContent = actionErrors.get(id) || '';
}

/** Runs an operator action at `where`, reports its outcome there, and refreshes the tables at once. */
async function act(label, fn, where) {
  try {
    await fn();
    actionErrors.delete(where);
    flash(label);
  } catch (err) {
    if (err instanceof Unauthorized) return logout(err.message);
    actionErrors.set(where, `${label} failed: ${err.message}`);
  }
  renderFormErrors();
  await refresh();
}

// ---- hosts ----------------------------------------------------------------------------------------------------

/** Hostnames whose limit editor is open: polling leaves those rows alone so typing is not interrupted. */
const editing = new Map();

/** @param {AdminHost} host @param {string} name */
function quotaCell(host, name) {
  const w = (host.quota || []).find((q) => q.name === name);
  if (!w) return el('td', { class: 'muted' }, '-');
  const pct = Math.min(100, Math.round((w.count / w.limit) * 100));
  // The relay takes quota in chunks ahead of use, so the count includes events reserved but not yet received.
  return el('td', { class: 'num', title: `counted in reserved chunks; resets ${new Date(w.resetAt).toLocaleString()}` },
    `${w.count.toLocaleString()} / ${w.limit.toLocaleString()}`,
    el('div', { class: pct >= 100 ? 'meter full' : 'meter', title: `${pct}%` }, el('div', { 'data-pct': pct })));
}

/** Hostnames whose rejection details are open: kept open across polls. */
const openDetails = new Set();

/** @param {AdminHost} host */
function rejectionsCell(host) {
  const recent = host.recentRejections || [];
  if (recent.length === 0) return el('td', { class: 'muted' }, 'none');
  const counts = new Map();
  for (const r of recent) counts.set(r.reason, (counts.get(r.reason) || 0) + 1);
  // Each rejection's account and detail in the row itself (opened on a click), not only in a hover tooltip.
  return el('td', {},
    el('ul', { class: 'reasons' },
      [...counts].map(([reason, n]) => el('li', {}, el('code', {}, reason), ` ×${n}`)),
      el('li', { class: 'muted' }, `last ${ago(recent[0].at)}`)),
    el('details', { class: 'rejection-details', open: openDetails.has(host.hostname) || undefined, ontoggle: (e) => {
      if (e.target.open) openDetails.add(host.hostname);
      else openDetails.delete(host.hostname);
    } },
      el('summary', {}, 'details'),
      el('ul', {}, recent.map((r) => el('li', {}, `${ago(r.at)} `, el('code', {}, r.reason), ` ${r.did}`, r.detail ? `: ${r.detail}` : '')))));
}

/** @param {AdminHost} host */
function limitsCell(host) {
  const enc = encodeURIComponent(host.hostname);
  if (!editing.has(host.hostname)) {
    return el('td', { class: 'num' },
      `${host.limits.perHour.toLocaleString()} / ${host.limits.perDay.toLocaleString()}`,
      host.limits.accountLimit === undefined ? null : el('div', { class: 'muted small' }, `${host.limits.accountLimit.toLocaleString()} accounts`),
      host.limits.custom ? el('span', { class: 'muted small' }, ' (custom)') : null,
      ' ',
      el('button', { class: 'secondary', 'data-action': 'edit-limits', onclick: () => { editing.set(host.hostname, true); renderHosts(lastHosts); } }, 'Edit'));
  }
  const hour = el('input', { type: 'number', min: 1, value: host.limits.perHour, 'aria-label': `events per hour for ${host.hostname}`, name: 'perHour' });
  const day = el('input', { type: 'number', min: 1, value: host.limits.perDay, 'aria-label': `events per day for ${host.hostname}`, name: 'perDay' });
  const accounts = host.limits.accountLimit === undefined
    ? null
    : el('input', { type: 'number', min: 0, value: host.limits.accountLimit, 'aria-label': `account limit for ${host.hostname}`, name: 'accountLimit' });
  const close = () => editing.delete(host.hostname);
  return el('td', {},
    el('form', {
      class: 'inline',
      onsubmit: (e) => {
        e.preventDefault();
        close();
        const body = { perHour: Number(hour.value), perDay: Number(day.value), ...(accounts ? { accountLimit: Number(accounts.value) } : {}) };
        void act(`${host.hostname}: limits set to ${hour.value}/hour, ${day.value}/day${accounts ? `, ${accounts.value} accounts` : ''}`, () =>
          api('POST', `/admin/hosts/${enc}/limits`, body), host.hostname);
      },
    }, hour, day, accounts,
      el('button', { type: 'submit' }, 'Save'),
      el('button', { type: 'button', class: 'secondary', title: 'use the configured default limits', onclick: () => {
        close();
        const body = { perHour: null, perDay: null, ...(accounts ? { accountLimit: null } : {}) };
        void act(`${host.hostname}: default limits restored`, () => api('POST', `/admin/hosts/${enc}/limits`, body), host.hostname);
      } }, 'Default'),
      el('button', { type: 'button', class: 'secondary', onclick: () => { close(); renderHosts(lastHosts); } }, 'Cancel')));
}

/** @param {AdminHost['sync']} sync */
function syncTitle(sync) {
  const passes = Object.entries(sync.lenientPasses).map(([check, n]) => `${check} ×${n}`).join(', ');
  const ratchet = sync.setting !== 'auto' ? 'pinned by an operator'
    : sync.strictSince ? `strict since ${sync.strictSince}` : `${sync.provenCommits} of ${sync.ratchetAfter} valid Sync 1.1 commits before strict`;
  return passes ? `${ratchet}; let through: ${passes}` : ratchet;
}

/** @param {AdminHost} host */
function hostRow(host) {
  const enc = encodeURIComponent(host.hostname);
  const banned = host.status === 'banned';
  return el('tr', { 'data-host': host.hostname },
    el('td', {}, el('button', { class: 'link host-open', title: 'show this host\'s rates', onclick: () => openHostDetail(host.hostname) },
      el('strong', {}, host.hostname))),
    el('td', {},
      el('span', { class: `badge ${host.status}` }, host.status),
      el('div', { class: 'conn' }, host.connected ? 'connected' : 'not connected',
        host.throttledUntil && host.status === 'throttled' ? ` · until ${new Date(host.throttledUntil).toLocaleTimeString()}` : '',
        host.failedAttempts ? ` · ${host.failedAttempts} failures` : '',
        host.lastConnectedAt ? '' : ' · never connected'),
      // Why it is not subscribed, where the operator looks; an old error of a connected host is only history.
      host.lastError && !host.connected
        ? el('div', { class: 'last-error', title: `at ${host.lastErrorAt}` }, `${ago(host.lastErrorAt)}: ${host.lastError}`)
        : null,
      host.tier ? el('div', { class: 'tier', 'data-tier': host.tier }, `tier: ${host.tier}`) : null,
      el('div', { class: 'sync', 'data-sync': host.sync.mode, title: syncTitle(host.sync) },
        `Sync 1.1: ${host.sync.mode}${host.sync.setting === 'auto' ? '' : ' (pinned)'}`)),
    el('td', { class: 'num' }, host.cursor ?? '-'),
    el('td', { class: 'num' }, host.accountCount ?? 0),
    el('td', {}, ago(host.lastEventAt)),
    el('td', { class: 'num' }, host.eventsLastHour.toLocaleString()),
    quotaCell(host, 'hour'),
    quotaCell(host, 'day'),
    limitsCell(host),
    rejectionsCell(host),
    el('td', { class: 'actions' },
      host.tier && !banned
        ? el('button', {
            class: 'secondary',
            title: host.tier === 'new' ? 'give this host the trusted tier\'s default limits' : 'back to the new-host default limits',
            onclick: () => {
              const tier = host.tier === 'new' ? 'trusted' : 'new';
              void act(`${host.hostname}: tier ${tier}`, () => api('POST', `/admin/hosts/${enc}/tier`, { tier }), host.hostname);
            },
          }, host.tier === 'new' ? 'Trust' : 'Untrust')
        : null,
      banned
        ? el('button', { class: 'secondary', onclick: () => act(`${host.hostname} unbanned`, () => api('POST', `/admin/hosts/${enc}/unban`), host.hostname) }, 'Unban')
        : el('button', { class: 'danger', onclick: () => {
            if (confirm(`Ban ${host.hostname}? Its connection closes now and its crawl requests are refused.`)) {
              void act(`${host.hostname} banned`, () => api('POST', `/admin/hosts/${enc}/ban`), host.hostname);
            }
          } }, 'Ban'),
      actionError(host.hostname)));
}

/**
 * The page of hosts shown: sorted, filtered and paged by the relay, so a poll carries and re-renders only this page.
 * @type {{ sort: import('../../../services/contract.ts').HostSort, order: 'asc' | 'desc', status: string, q: string, offset: number, limit: number }}
 */
const view = { sort: 'hostname', order: 'asc', status: '', q: '', offset: 0, limit: 50 };

function hostsPath() {
  const p = new URLSearchParams({ sort: view.sort, order: view.order, offset: String(view.offset), limit: String(view.limit) });
  if (view.status) p.set('status', view.status);
  if (view.q) p.set('q', view.q);
  return `/admin/hosts?${p}`;
}

/** @param {ApiResponse<'listHosts'>} page */
function renderPager(page) {
  const first = page.total === 0 ? 0 : page.offset + 1;
  $('hosts-page').textContent = `${first.toLocaleString()}-${(page.offset + page.hosts.length).toLocaleString()} of ${page.total.toLocaleString()}`;
  $('hosts-prev').disabled = page.offset === 0;
  $('hosts-next').disabled = page.offset + page.hosts.length >= page.total;
  for (const b of document.querySelectorAll('button.sort')) {
    const mine = /** @type {HTMLElement} */ (b).dataset.sort === view.sort;
    if (mine) b.setAttribute('data-dir', view.order === 'asc' ? ' ▲' : ' ▼');
    else b.removeAttribute('data-dir');
  }
}

let lastHosts = [];
/** @param {AdminHost[]} hosts */
function renderHosts(hosts) {
  lastHosts = hosts;
  const tbody = $('hosts').tBodies[0];
  const existing = new Map([...tbody.rows].map((r) => [r.dataset.host, r]));
  const shown = hosts;
  // A row being edited keeps its DOM (and the operator's half-typed numbers) across polls.
  tbody.replaceChildren(...shown.map((h) => {
    const row = existing.get(h.hostname);
    return editing.has(h.hostname) && row?.querySelector('form') ? row : hostRow(h);
  }));
  for (const bar of tbody.querySelectorAll('.meter > div')) bar.style.width = `${bar.dataset.pct}%`;
  $('hosts-empty').hidden = shown.length > 0;
}

// ---- accounts taken down, throttled ---------------------------------------------------------------------------

/** Accounts shown per list: the first page, with how many there are in all. */
const ACCOUNTS_SHOWN = 50;

/** @param {import('../../../services/contract.ts').AdminAccount} a */
function accountCells(a) {
  return [el('td', {}, el('code', {}, a.did)), el('td', {}, a.handle || '-'), el('td', {}, a.hostname || '-')];
}

/** @param {ApiResponse<'listAccounts'>} page */
function renderTakenDown(page) {
  $('takendown').tBodies[0].replaceChildren(...page.accounts.map((a) =>
    el('tr', { 'data-did': a.did },
      ...accountCells(a),
      el('td', {}, a.takenDownAt ? ago(a.takenDownAt) : 'before times were kept'),
      el('td', { class: 'actions' },
        el('button', { class: 'secondary', onclick: () => act(`${a.handle || a.did} restored`, () => api('POST', `/admin/accounts/${encodeURIComponent(a.did)}/restore`), `account:${a.did}`) }, 'Restore'),
        actionError(`account:${a.did}`)))));
  $('takendown-summary').textContent = page.total > page.accounts.length ? `first ${page.accounts.length} of ${page.total.toLocaleString()} (relay accounts list)` : '';
  $('takendown-empty').hidden = page.total > 0;
}

/** @param {ApiResponse<'listAccounts'>} page */
function renderThrottled(page) {
  $('throttled').tBodies[0].replaceChildren(...page.accounts.map((a) =>
    el('tr', { 'data-did': a.did },
      ...accountCells(a),
      el('td', { class: 'reason' }, a.throttle?.reason === 'account_budget' ? 'write budget' : 'host account limit'),
      el('td', {}, a.throttle?.until ? new Date(a.throttle.until).toLocaleString() : '-'))));
  $('throttled-summary').textContent = `repo events withheld · ${page.total.toLocaleString()} account${page.total === 1 ? '' : 's'}`;
  $('throttled-empty').hidden = page.total > 0;
}

/** Both account lists; a failure is the hosts refresh's to report (the same relay answers both). */
async function refreshAccounts() {
  /** @type {[ApiResponse<'listAccounts'>, ApiResponse<'listAccounts'>]} */
  const [down, throttled] = await Promise.all([
    api('GET', `/admin/accounts?status=takendown&limit=${ACCOUNTS_SHOWN}`),
    api('GET', `/admin/accounts?status=throttled&limit=${ACCOUNTS_SHOWN}`),
  ]);
  renderTakenDown(down);
  renderThrottled(throttled);
}

// ---- crawl requests, consumers ---------------------------------------------------------------------------------

/** @param {ApiResponse<'listCrawlRequests'>['requests']} requests */
function renderRequests(requests) {
  $('requests').tBodies[0].replaceChildren(...requests.map((r) =>
    el('tr', { 'data-host': r.hostname },
      el('td', {}, el('strong', {}, r.hostname)),
      el('td', {}, ago(r.requestedAt)),
      el('td', { class: 'num' }, r.requestCount),
      el('td', { class: 'actions' },
        el('button', { onclick: () => act(`${r.hostname} approved`, () => api('POST', '/admin/hosts', { hostname: r.hostname }), `request:${r.hostname}`) }, 'Approve'),
        el('button', { class: 'danger', onclick: () => act(`${r.hostname} banned`, () => api('POST', `/admin/hosts/${encodeURIComponent(r.hostname)}/ban`), `request:${r.hostname}`) }, 'Ban'),
        actionError(`request:${r.hostname}`)))));
  $('requests-empty').hidden = requests.length > 0;
}

/** @param {string[]} domains */
function renderDomains(domains) {
  $('domains').tBodies[0].replaceChildren(...domains.map((d) =>
    el('tr', { 'data-domain': d },
      el('td', {}, el('strong', {}, d)),
      el('td', { class: 'actions' },
        el('button', { class: 'secondary', onclick: () => act(`${d} unbanned`, () => api('DELETE', `/admin/domain-bans/${encodeURIComponent(d)}`), `domain:${d}`) }, 'Unban'),
        actionError(`domain:${d}`)))));
  $('domains-empty').hidden = domains.length > 0;
}

/** @param {ConsumerView[]} consumers */
function renderConsumers(consumers) {
  $('consumers').tBodies[0].replaceChildren(...consumers.map((c) =>
    el('tr', {},
      el('td', {}, c.kind),
      el('td', {}, c.remoteAddress),
      el('td', {}, c.filters + (c.compressed ? ' (zstd)' : '')),
      el('td', {}, ago(c.connectedAt)),
      el('td', {}, c.state),
      el('td', { class: 'num' }, c.sentSeq),
      el('td', { class: 'num' }, c.lag),
      el('td', { class: 'num' }, bytes(c.bufferedBytes)),
      el('td', { class: 'num' }, bytes(c.peakBufferedBytes)))));
  $('consumers-empty').hidden = consumers.length > 0;
}

/** @param {CollectionsView} view */
function renderCollections(view) {
  $('collections-summary').textContent =
    `${view.entries.toLocaleString()} entries, ${bytes(view.bytes)} · ${view.exact ? 'counted' : 'estimated from statistics'} ${ago(view.computedAt)}`;
  $('collections').tBodies[0].replaceChildren(...view.top.map((c) =>
    el('tr', { 'data-collection': c.nsid },
      el('td', {}, c.nsid),
      el('td', { class: 'num' }, c.repos.toLocaleString()))));
  $('collections-empty').hidden = view.top.length > 0;
  $('backfills').tBodies[0].replaceChildren(...view.backfills.map((b) =>
    el('tr', {},
      el('td', {}, b.hostname),
      el('td', {}, b.state),
      el('td', { class: 'num' }, b.done.toLocaleString()),
      el('td', { class: 'num' }, b.failed.toLocaleString()),
      el('td', {}, ago(b.updatedAt)))));
  $('backfills-empty').hidden = view.backfills.length > 0;
  $('backfills').hidden = view.backfills.length === 0;
}

// ---- rate charts ---------------------------------------------------------------------------------------------
// Drawn from the relay's per-minute counts (GET /admin/rates): every process's events, with their history, so a
// chart is full as soon as the console opens.

/** @type {RateWindow} */
let rateWindow = '1h';
/** Axis label spacing per window (ms). */
const TICK_MS = { '1h': 10 * 60_000, '6h': 3_600_000, '24h': 4 * 3_600_000 };

/** Events per second in a minute; the minute under way by the seconds it has had so far. */
function perSecond(point, count) {
  const elapsed = Math.min(60, Math.max(1, (Date.now() - point.at) / 1000));
  return count / elapsed;
}

/** @param {string} svgId @param {RatesView} rates @param {Array<[('accepted' | 'rejected'), string]>} series */
function drawChart(svgId, rates, series) {
  const W = 600;
  const H = 140;
  const AXIS = 16;
  const pts = rates.points;
  const from = pts[0]?.at ?? Date.now();
  const to = (pts.at(-1)?.at ?? from) + 60_000;
  const values = pts.map((p) => Object.fromEntries(series.map(([k]) => [k, perSecond(p, p[k])])));
  const max = Math.max(1, ...values.flatMap((v) => series.map(([k]) => v[k])));
  const x = (at) => ((at - from) / (to - from)) * W;
  const y = (v) => H - AXIS - (v / max) * (H - AXIS - 14);
  const ticks = [];
  const step = TICK_MS[rates.window];
  for (let t = Math.ceil(from / step) * step; t < to; t += step) {
    // A label cut by the chart's edge is left out.
    if (x(t) < 16 || x(t) > W - 16) continue;
    const label = new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
    ticks.push(el('line', { x1: x(t), x2: x(t), y1: H - AXIS, y2: H - AXIS + 3, stroke: '#8c959f' }),
      el('text', { class: 'axis', x: x(t), y: H - 3, 'font-size': 10, fill: '#66707c', 'text-anchor': 'middle', 'data-at': t }, label));
  }
  $(svgId).replaceChildren(
    el('line', { x1: 0, x2: W, y1: y(0), y2: y(0), stroke: '#dde1e6' }),
    el('line', { x1: 0, x2: W, y1: y(max), y2: y(max), stroke: '#eef0f2', 'stroke-dasharray': '4 4' }),
    el('text', { x: 4, y: y(max) - 3, 'font-size': 11, fill: '#66707c' }, `${max.toFixed(max < 10 ? 1 : 0)}/s`),
    ...ticks,
    ...series.map(([k, color]) =>
      el('polyline', { fill: 'none', stroke: color, 'stroke-width': 2, 'data-series': k,
        points: pts.map((p, i) => `${x(p.at + 30_000).toFixed(1)},${y(values[i][k]).toFixed(1)}`).join(' ') })));
}

/** The last complete minute's rates, or the one under way when it is the only one. */
function lastMinute(rates) {
  const p = rates.points.at(-2) ?? rates.points.at(-1);
  return p ? { accepted: p.accepted / 60, rejected: p.rejected / 60 } : { accepted: 0, rejected: 0 };
}

async function pollRates() {
  /** @type {RatesView} */
  const r = await api('GET', `/admin/rates?window=${rateWindow}`);
  drawChart('chart-ingest', r, [['accepted', '#1f6feb'], ['rejected', '#cf222e']]);
  // Every event logged is broadcast: the relay's broadcast rate is its accepted rate, across processes.
  drawChart('chart-broadcast', r, [['accepted', '#1a7f37']]);
  const last = lastMinute(r);
  $('now-ingest').textContent = `last minute: ${last.accepted.toFixed(1)}/s accepted, ${last.rejected.toFixed(1)}/s rejected`;
  $('now-broadcast').textContent = `last minute: ${last.accepted.toFixed(1)}/s broadcast`;
  if (detailHost) await pollHostRates();
}

/** The host whose detail is open (null: none). */
let detailHost = null;

async function pollHostRates() {
  const host = detailHost;
  /** @type {RatesView} */
  const r = await api('GET', `/admin/rates?window=${rateWindow}&host=${encodeURIComponent(host)}`);
  if (host !== detailHost) return;
  drawChart('chart-host', r, [['accepted', '#1f6feb'], ['rejected', '#cf222e']]);
  const total = r.points.reduce((n, p) => n + p.accepted, 0);
  const last = lastMinute(r);
  $('host-detail-now').textContent =
    `${total.toLocaleString()} events in the last ${r.window} · last minute: ${last.accepted.toFixed(1)}/s accepted, ${last.rejected.toFixed(1)}/s rejected`;
}

/** @param {string} hostname */
function openHostDetail(hostname) {
  detailHost = hostname;
  $('host-detail-name').textContent = hostname;
  $('host-detail').hidden = false;
  $('chart-host').replaceChildren();
  $('host-detail-now').textContent = 'loading…';
  void pollHostRates().catch(ratesFailed);
  $('host-detail').scrollIntoView({ block: 'nearest' });
}

function ratesFailed(err) {
  if (err instanceof Unauthorized) logout(err.message);
}

// ---- polling, login --------------------------------------------------------------------------------------------

async function pollStats() {
  /** @type {RelayStats} */
  const s = await api('GET', '/admin/stats');
  $('summary').textContent = `v${s.version} · head seq ${s.headSeq.toLocaleString()} · ${s.consumers} consumer${s.consumers === 1 ? '' : 's'}`;
}

async function refresh() {
  void refreshAccounts().catch(() => {});
  try {
    /** @type {[ApiResponse<'listHosts'>, ApiResponse<'listCrawlRequests'>, ApiResponse<'listConsumers'>, ApiResponse<'listDomainBans'>, ApiResponse<'collections'>]} */
    const [hosts, requests, consumers, domains, collections] = await Promise.all([
      api('GET', hostsPath()),
      api('GET', '/admin/crawl-requests'),
      api('GET', '/admin/consumers'),
      api('GET', '/admin/domain-bans'),
      api('GET', '/admin/collections'),
    ]);
    renderHosts(hosts.hosts);
    renderPager(hosts);
    lastOk = Date.now();
    $('stale').hidden = true;
    $('app').classList.remove('is-stale');
    renderRequests(requests.requests);
    renderConsumers(consumers.consumers);
    renderDomains(domains.domains);
    renderCollections(collections);
  } catch (err) {
    if (err instanceof Unauthorized) logout(err.message);
    else showStale();
  }
}

/** When the last refresh answered: what the tables show dates from then. */
let lastOk = 0;
/** The relay stopped answering: say so, and how old what is shown is, instead of showing old data as current. */
function showStale() {
  $('stale').textContent = lastOk
    ? `Relay unreachable — data from ${new Date(lastOk).toLocaleTimeString([], { hour12: false })}`
    : 'Relay unreachable — no data yet';
  $('stale').hidden = false;
  $('app').classList.add('is-stale');
}

let timers = [];
function showApp() {
  $('login-panel').hidden = true;
  $('app').hidden = false;
  $('logout').hidden = false;
  const stats = () => pollStats().catch((err) => (err instanceof Unauthorized ? logout(err.message) : undefined));
  const rates = () => pollRates().catch(ratesFailed);
  void stats();
  void rates();
  void refresh();
  timers = [setInterval(stats, 2000), setInterval(rates, 5000), setInterval(refresh, 3000)];
}

function logout(message) {
  sessionStorage.removeItem(KEY);
  for (const t of timers) clearInterval(t);
  timers = [];
  detailHost = null;
  $('host-detail').hidden = true;
  $('app').hidden = true;
  $('logout').hidden = true;
  $('summary').textContent = '';
  $('login-panel').hidden = false;
  $('login-error').textContent = message || '';
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('password').value);
  try {
    await api('GET', '/admin/stats');
    $('password').value = '';
    $('login-error').textContent = '';
    showApp();
  } catch (err) {
    logout(err instanceof Unauthorized ? 'Wrong password.' : err.message);
  }
});
$('logout').addEventListener('click', () => logout());
let filterTimer = 0;
$('host-filter').addEventListener('input', () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    view.q = $('host-filter').value.trim().toLowerCase();
    view.offset = 0;
    void refresh();
  }, 250);
});
$('host-status').addEventListener('change', () => {
  view.status = $('host-status').value;
  view.offset = 0;
  void refresh();
});
for (const b of document.querySelectorAll('button.sort')) {
  b.addEventListener('click', () => {
    const sort = /** @type {any} */ (/** @type {HTMLElement} */ (b).dataset.sort);
    // Names read best A to Z; counts and times largest (newest) first.
    const first = sort === 'hostname' || sort === 'status' ? 'asc' : 'desc';
    view.order = view.sort !== sort ? first : view.order === 'asc' ? 'desc' : 'asc';
    view.sort = sort;
    view.offset = 0;
    void refresh();
  });
}
for (const b of document.querySelectorAll('button.rate-window')) {
  b.addEventListener('click', () => {
    rateWindow = /** @type {RateWindow} */ (/** @type {HTMLElement} */ (b).dataset.window);
    for (const o of document.querySelectorAll('button.rate-window')) o.setAttribute('aria-pressed', String(o === b));
    void pollRates().catch(ratesFailed);
  });
}
$('host-detail-close').addEventListener('click', () => {
  detailHost = null;
  $('host-detail').hidden = true;
});
$('hosts-prev').addEventListener('click', () => {
  view.offset = Math.max(0, view.offset - view.limit);
  void refresh();
});
$('hosts-next').addEventListener('click', () => {
  view.offset += view.limit;
  void refresh();
});
$('add-host').addEventListener('submit', (e) => {
  e.preventDefault();
  const hostname = $('add-hostname').value.trim();
  void act(`${hostname} added`, () => api('POST', '/admin/hosts', { hostname }), 'add-host').then(() => ($('add-hostname').value = ''));
});

$('ban-domain').addEventListener('submit', (e) => {
  e.preventDefault();
  const domain = $('ban-domain-name').value.trim();
  if (!confirm(`Ban ${domain} and every host under it?`)) return;
  void act(`${domain} banned`, () => api('POST', '/admin/domain-bans', { domain }), 'ban-domain').then(() => ($('ban-domain-name').value = ''));
});

if (sessionStorage.getItem(KEY)) {
  api('GET', '/admin/stats').then(showApp, (err) => logout(err instanceof Unauthorized ? '' : err.message));
}
