// Public host status page. Plain browser JavaScript; everything shown is set as text, never parsed as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(typeof c === 'object' ? c : String(c));
  return node;
}

const STATUS_TEXT = {
  connecting: 'The relay is not subscribed to this host yet: it is trying to connect (see the last connection error below, if any).',
  active: 'The relay is subscribed to this host and relays its events.',
  idle: 'The relay is subscribed to this host but has heard nothing from it lately.',
  offline: 'The relay could not connect to this host recently and keeps retrying at growing intervals.',
  throttled: 'This host sent more events than its quota allows; the relay reconnects when the window resets and catches up from its cursor (nothing is lost).',
  banned: 'The relay operator has banned this host.',
};

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : 'never';
}

function show(s) {
  $('result').hidden = false;
  $('r-hostname').textContent = s.hostname;
  const facts = $('r-facts');
  facts.replaceChildren();
  $('r-usage').replaceChildren();
  $('r-sync').textContent = '';
  $('r-rejections').tBodies[0].replaceChildren();
  const crawlable = (!s.known && !s.pending) || s.status === 'idle' || s.status === 'offline';
  $('crawl').hidden = !crawlable;
  $('crawl-result').textContent = '';
  if (!s.known) {
    $('r-summary').textContent = s.message;
    $('crawl-text').textContent = 'Ask this relay to subscribe to your PDS. Depending on its policy it starts at once or waits for the operator.';
    // The relay has heard no event from a host it does not crawl: nothing to say about rejections.
    $('r-rejections-title').hidden = true;
    $('r-no-rejections').hidden = true;
    $('r-rejections').hidden = true;
    return;
  }
  $('r-summary').replaceChildren(el('span', { class: `badge ${s.status}` }, s.status), ' ', STATUS_TEXT[s.status] || '');
  $('crawl-text').textContent = 'Ask the relay to connect again now.';
  const fact = (k, v) => facts.append(el('dt', {}, k), el('dd', {}, v));
  fact('Last upstream seq', s.seq ?? '-');
  fact('Accounts seen', s.accountCount);
  fact('Last event', when(s.lastEventAt));
  fact('Last connected', when(s.lastConnectedAt));
  if (s.lastError) fact('Last connection error', `${s.lastError} (${when(s.lastErrorAt)})`);
  if (s.throttledUntil) fact('Throttled until', when(s.throttledUntil));
  fact('Event limits', `${s.limits.perHour.toLocaleString()} per hour, ${s.limits.perDay.toLocaleString()} per day (UTC)`);
  fact('Account limit', `${s.limits.accountLimit.toLocaleString()} accounts`);
  fact('Throttled accounts', s.throttledAccounts ? `${s.throttledAccounts.toLocaleString()} (their repo events are withheld)` : 'none');
  if (s.sync) fact('Sync v1.1', `${s.sync.mode} (${s.sync.setting === 'auto' ? 'automatic' : 'set by the operator'})`);
  $('r-sync').textContent = s.sync ? s.sync.explanation : '';
  for (const w of s.usage || []) {
    const pct = Math.min(100, Math.round((w.count / w.limit) * 100));
    const bar = el('div', {});
    bar.style.width = `${pct}%`;
    $('r-usage').append(el('div', { class: 'usage' },
      `This ${w.window}: ${w.count.toLocaleString()} of ${w.limit.toLocaleString()} events (${pct}%), resets ${when(w.resetAt)}`,
      el('div', { class: pct >= 100 ? 'meter full' : 'meter' }, bar)));
  }
  const rej = s.recentRejections || [];
  $('r-rejections-title').hidden = false;
  $('r-no-rejections').hidden = rej.length > 0;
  $('r-rejections').hidden = rej.length === 0;
  $('r-rejections').tBodies[0].replaceChildren(...rej.map((r) =>
    el('tr', {}, el('td', {}, when(r.at)), el('td', { class: 'did' }, r.did), el('td', {}, el('code', {}, r.reason)), el('td', {}, r.detail || ''))));
}

// Only the latest lookup may render: an older answer (or the refresh after a crawl request) arriving late must not
// overwrite what the visitor asked for since.
let latest = 0;
let refreshTimer = 0;

async function lookup(hostname) {
  const id = ++latest;
  clearTimeout(refreshTimer);
  $('error').textContent = '';
  const res = await fetch(`/api/host-status?hostname=${encodeURIComponent(hostname)}`);
  const body = await res.json().catch(() => null);
  if (id !== latest) return;
  if (!res.ok) {
    $('result').hidden = true;
    $('error').textContent = body?.message || `the relay answered HTTP ${res.status}`;
    return;
  }
  show(body);
}

$('lookup').addEventListener('submit', (e) => {
  e.preventDefault();
  const hostname = $('hostname').value.trim();
  history.replaceState(null, '', `?hostname=${encodeURIComponent(hostname)}`);
  void lookup(hostname);
});

$('crawl-button').addEventListener('click', async () => {
  const hostname = $('r-hostname').textContent;
  const res = await fetch('/xrpc/com.atproto.sync.requestCrawl', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname }),
  });
  const body = await res.json().catch(() => null);
  $('crawl-result').textContent = res.ok
    ? 'Crawl requested. If the relay approves hosts by hand, an operator will see your request.'
    : `The relay refused: ${body?.message || `HTTP ${res.status}`}`;
  if (res.ok) refreshTimer = setTimeout(() => void lookup(hostname), 500);
});

const initial = new URLSearchParams(location.search).get('hostname');
if (initial) {
  $('hostname').value = initial;
  void lookup(initial);
}
