// The meshwork dashboard: one page served by the admin port (mesh-sidecar's, or mesh.admin()'s),
// live over server-sent events from the same origin. Plain JavaScript run as it is: no build step,
// nothing loaded from anywhere else (the page's Content-Security-Policy allows only 'self').
//
//   /api/summary/stream  a summary a second: services, routes, endpoints, edges (admin/mesh-summary.ts)
//   /api/tap             requests as they complete, filtered by the form's fields (when tap is on)

const HISTORY = 120; // sparkline points: two minutes at one summary a second
const TAP_ROWS = 200;

const $ = (selector) => document.querySelector(selector);
const history = new Map(); // "direction/name" -> { rps: [], success: [], p99: [] }
let selected;
let latest;

function element(tag, attributes = {}, ...children) {
  const svg = ['svg', 'g', 'path', 'rect', 'text', 'polyline', 'defs', 'marker'].includes(tag);
  const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.setAttribute('class', value);
    else if (name.startsWith('data-') || svg) node.setAttribute(name, String(value));
    else node[name] = value;
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const percent = (rate) => (rate === null ? '-' : `${(rate * 100).toFixed(2)}%`);
const rps = (value) => `${value.toFixed(1)}`;
const ms = (value) => (value === null ? '-' : value < 10 ? `${Number(value.toFixed(1))} ms` : `${Math.round(value)} ms`);
const grade = (rate) => (rate === null ? '' : rate >= 0.99 ? 'good' : rate >= 0.95 ? 'fair' : 'poor');
const keyOf = (service) => `${service.direction}/${service.name}`;

function sparkline(points) {
  const values = points.filter((v) => v !== null && Number.isFinite(v));
  const max = Math.max(...values, 0) || 1;
  const step = 64 / (HISTORY - 1);
  const offset = HISTORY - points.length;
  const coordinates = points.map((v, i) => `${((offset + i) * step).toFixed(1)},${(15 - ((v ?? 0) / max) * 14).toFixed(1)}`).join(' ');
  return element('svg', { class: 'spark', viewBox: '0 0 64 16', 'aria-hidden': 'true' }, element('polyline', { points: coordinates }));
}

function remember(service) {
  const key = keyOf(service);
  let h = history.get(key);
  if (!h) history.set(key, (h = { rps: [], success: [], p99: [] }));
  h.rps.push(service.rps);
  h.success.push(service.successRate);
  h.p99.push(service.latencyMs.p99);
  for (const series of Object.values(h)) if (series.length > HISTORY) series.shift();
  return h;
}

function figure(name, text, series, extraClass) {
  return element('td', { class: `figure ${name} ${extraClass ?? ''}` }, element('span', { class: 'value' }, text), sparkline(series));
}

function renderServices(summary) {
  const body = $('#services tbody');
  body.replaceChildren();
  for (const service of summary.services) {
    const h = remember(service);
    const key = keyOf(service);
    const budget = service.retries.budget;
    const row = element(
      'tr',
      { 'data-service': key, class: key === selected ? 'selected' : '' },
      element('td', { class: 'name' }, key),
      figure('success', percent(service.successRate), h.success, grade(service.successRate)),
      figure('rps', rps(service.rps), h.rps),
      element('td', { class: 'p50' }, ms(service.latencyMs.p50)),
      element('td', { class: 'p95' }, ms(service.latencyMs.p95)),
      figure('p99', ms(service.latencyMs.p99), h.p99),
      element('td', { class: 'retries' }, service.retries.perSecond.toFixed(1)),
      element('td', { class: 'budget', title: budget ? `ratio ${budget.retryRatio}, at least ${budget.minRetriesPerSecond}/s over ${budget.ttlMs / 1000} s` : '' }, budget ? `${budget.available} left` : '-'),
      element('td', { class: 'breaker' }, service.breaker ? element('span', { class: `badge ${service.breaker.state}` }, service.breaker.state) : '-'),
      element('td', { class: 'faults' }, service.faultsPerSecond.toFixed(1)),
      element('td', { class: 'limited' }, service.limitedPerSecond.toFixed(1)),
    );
    row.addEventListener('click', () => {
      selected = key;
      render(latest);
    });
    body.append(row);
  }
  $('#no-services').hidden = summary.services.length > 0;
}

function renderDetail(summary) {
  const service = summary.services.find((s) => keyOf(s) === selected) ?? summary.services.find((s) => s.requests > 0) ?? summary.services[0];
  $('#detail-section').hidden = service === undefined;
  if (!service) return;
  $('#detail-title').textContent = keyOf(service);
  $('#routes tbody').replaceChildren(
    ...service.routes.map((r) =>
      element(
        'tr',
        { 'data-route': r.route },
        element('td', { class: 'name' }, r.route === 'default' ? '[DEFAULT]' : r.route),
        element('td', { class: `success ${grade(r.successRate)}` }, percent(r.successRate)),
        element('td', { class: 'rps' }, rps(r.rps)),
        element('td', {}, ms(r.latencyMs.p50)),
        element('td', {}, ms(r.latencyMs.p95)),
        element('td', {}, ms(r.latencyMs.p99)),
        element('td', { class: 'requests' }, r.requests),
      ),
    ),
  );
  $('#endpoints tbody').replaceChildren(
    ...service.endpoints.map((e) =>
      element(
        'tr',
        { 'data-endpoint': e.address },
        element('td', { class: 'name' }, e.address),
        element('td', { class: 'destination' }, e.destination),
        element('td', { class: 'pending' }, e.pending),
        element('td', { class: 'ewma' }, ms(e.ewmaMs)),
        element('td', { class: 'state' }, element('span', { class: `badge ${e.ejected ? 'ejected' : 'in-rotation'}` }, e.ejected ? `ejected, ${Math.ceil(e.ejectedForMs / 1000)} s left` : 'in rotation')),
      ),
    ),
  );
  $('#no-endpoints').hidden = service.endpoints.length > 0;
}

function renderTopology(summary) {
  const svg = $('#topology');
  const callers = [...new Set(summary.edges.filter((e) => e.to === summary.self).map((e) => e.from))];
  const callees = [...new Set(summary.edges.filter((e) => e.from === summary.self).map((e) => e.to))];
  const rows = Math.max(callers.length, callees.length, 1);
  const height = rows * 44 + 16;
  const width = Math.max(svg.clientWidth, 720);
  const column = (i) => [16, width / 2 - 110, width - 236][i];
  const place = (names, i) => names.map((name, n) => ({ name, x: column(i), y: 8 + n * 44 + (rows - names.length) * 22 }));
  const nodes = [...place(callers, 0), { name: summary.self, x: column(1), y: 8 + (rows - 1) * 22, self: true }, ...place(callees, 2)];
  const at = (name, self) => nodes.find((n) => n.name === name && Boolean(n.self) === Boolean(self));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('height', String(height));
  const defs = element('defs', {}, element('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: '8', refY: '4', markerWidth: '8', markerHeight: '8', orient: 'auto' }, element('path', { d: 'M0,0 L8,4 L0,8 z' })));
  const edges = summary.edges.map((edge) => {
    const inbound = edge.to === summary.self;
    const from = inbound ? at(edge.from) : at(summary.self, true);
    const to = inbound ? at(summary.self, true) : at(edge.to);
    const [x1, y1, x2, y2] = [from.x + 220, from.y + 14, to.x, to.y + 14];
    return element(
      'g',
      { class: 'edge', 'data-from': edge.from, 'data-to': edge.to },
      element('path', { d: `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}` }),
      element('text', { x: (x1 + x2) / 2 - 40, y: (y1 + y2) / 2 - 4 }, `${edge.rps.toFixed(1)} rps · ${percent(edge.successRate)}`),
    );
  });
  const boxes = nodes.map((node) =>
    element(
      'g',
      { class: `node${node.self ? ' self' : ''}`, 'data-node': node.name },
      element('rect', { x: node.x, y: node.y, width: 220, height: 28, rx: 6 }),
      element('text', { x: node.x + 8, y: node.y + 18 }, node.name.length > 34 ? `…${node.name.slice(-33)}` : node.name),
    ),
  );
  svg.replaceChildren(defs, ...edges, ...boxes);
}

function render(summary) {
  if (!summary) return;
  latest = summary;
  $('#self').textContent = summary.self;
  $('#window').textContent = `last ${(summary.coveredMs / 1000).toFixed(0)} s of a ${summary.windowMs / 1000} s window`;
  renderServices(summary);
  renderDetail(summary);
  renderTopology(summary);
  tapAvailable(summary.tap.enabled);
}

function setStatus(text, kind) {
  const status = $('#status');
  status.textContent = text;
  status.className = `status ${kind}`;
}

function watchSummary() {
  const source = new EventSource('/api/summary/stream');
  source.addEventListener('summary', (message) => {
    setStatus('live', 'live');
    render(JSON.parse(message.data));
  });
  // EventSource reconnects by itself; say so meanwhile.
  source.addEventListener('error', () => setStatus('reconnecting…', 'lost'));
}

// ----------------------------------------------------------------------------------------------
// Tap

let tap;

function tapAvailable(enabled) {
  const note = $('#tap-note');
  $('#tap-start').disabled = !enabled || tap !== undefined;
  if (!enabled) note.textContent = 'Tap is off for this process: enable it with spec.admin.tap: true in the config.';
  else if (tap === undefined) note.textContent = 'Start to see requests as they complete, newest first (at most 100 a second; credentials are never shown).';
}

function startTap(event) {
  event.preventDefault();
  stopTap();
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($('#tap-form'))) if (String(value).trim() !== '') query.set(name, String(value).trim());
  query.set('format', 'sse');
  tap = new EventSource(`/api/tap?${query}`);
  $('#tap-stop').disabled = false;
  $('#tap-start').disabled = true;
  $('#tap-note').textContent = `Tapping${query.size > 1 ? ` (${[...query].filter(([k]) => k !== 'format').map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}…`;
  $('#tap-events tbody').replaceChildren();
  tap.addEventListener('request', (message) => addTapRow(JSON.parse(message.data)));
  tap.addEventListener('skipped', (message) => {
    const { rateLimited, slowReader } = JSON.parse(message.data);
    $('#tap-note').textContent = `Tapping… (${rateLimited + slowReader} requests skipped to keep to the rate limit)`;
  });
  tap.addEventListener('end', (message) => {
    $('#tap-note').textContent = `The tap ended: ${JSON.parse(message.data).reason}`;
    stopTap();
  });
  tap.addEventListener('error', () => {
    // A refused tap (403, 400) cannot be read here; the summary says whether tap is on.
    if (tap?.readyState === EventSource.CLOSED) stopTap();
  });
}

function stopTap() {
  tap?.close();
  tap = undefined;
  $('#tap-stop').disabled = true;
  $('#tap-start').disabled = latest ? !latest.tap.enabled : false;
}

function addTapRow(e) {
  const status = e.error ?? (e.grpcStatus !== null ? `grpc ${e.grpcStatus}` : e.statusCode);
  const row = element(
    'tr',
    { 'data-id': e.id, class: e.classification === 'failure' ? 'poor' : '' },
    element('td', {}, e.time.slice(11, 23)),
    element('td', {}, e.direction === 'inbound' ? 'in' : e.direction === 'outbound' ? 'out' : e.direction),
    element('td', { class: 'authority' }, e.authority),
    element('td', { class: 'method' }, e.method),
    element('td', { class: 'path', title: e.path }, e.path),
    element('td', { class: 'route' }, e.route === 'default' ? '[DEFAULT]' : e.route),
    element('td', { class: 'endpoint' }, e.endpoint ?? '-'),
    element('td', { class: 'status' }, status),
    element('td', { class: 'latency' }, ms(e.latencyMs)),
    element('td', { class: 'attempts' }, e.attempts),
    element('td', { class: 'client' }, e.clientId ?? '-'),
  );
  const body = $('#tap-events tbody');
  body.prepend(row);
  while (body.children.length > TAP_ROWS) body.lastElementChild.remove();
}

$('#tap-form').addEventListener('submit', startTap);
$('#tap-stop').addEventListener('click', () => {
  stopTap();
  $('#tap-note').textContent = 'Stopped.';
});
watchSummary();
