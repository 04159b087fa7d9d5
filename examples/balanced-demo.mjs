// The demo `npm start` runs: three local backends, one of them slow, and the same traffic sent
// through meshClient with each balancer, so you can see peak-EWMA steer away from the slow one.
// Plain JavaScript on purpose: it imports the built package exactly as a user would.
import { createServer } from 'node:http';
import { meshClient } from 'meshwork';

const BACKENDS = [
  { name: 'reviews-v1', delayMs: 2 },
  { name: 'reviews-v2', delayMs: 2 },
  { name: 'reviews-v3 (slow)', delayMs: 40 },
];
const REQUESTS = 600;
const CONCURRENCY = 16;

function startBackend({ name, delayMs }) {
  const hits = { count: 0 };
  const server = createServer((req, res) => {
    hits.count++;
    setTimeout(() => res.end(JSON.stringify({ served_by: name })), delayMs);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ name, delayMs, server, hits, address: `127.0.0.1:${server.address().port}` })));
}

async function drive(balancer, backends) {
  for (const b of backends) b.hits.count = 0;
  const reviews = meshClient('reviews', { endpoints: backends.map((b) => b.address), balancer });
  const latencies = [];
  let next = 0;
  const started = performance.now();
  async function worker() {
    while (next < REQUESTS) {
      next++;
      const t0 = performance.now();
      const res = await reviews.request({ method: 'GET', path: '/reviews/1' });
      await res.body.json();
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  await reviews.close();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
  return { balancer, rps: Math.round(REQUESTS / seconds), p50: pct(50), p99: pct(99), shares: backends.map((b) => b.hits.count) };
}

const backends = await Promise.all(BACKENDS.map(startBackend));
console.log('meshwork demo: 3 backends on loopback, one 20x slower than the others');
for (const b of backends) console.log(`  ${b.name.padEnd(18)} ${b.address}  answers after ${b.delayMs} ms`);
console.log(`\nsending ${REQUESTS} requests, ${CONCURRENCY} in flight, through meshClient('reviews') with each balancer:\n`);
console.log(`${'balancer'.padEnd(20)}${backends.map((b) => b.name.padStart(20)).join('')}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`);
for (const balancer of ['round-robin', 'p2c-least-request', 'p2c-ewma']) {
  const r = await drive(balancer, backends);
  console.log(`${r.balancer.padEnd(20)}${r.shares.map((s) => String(s).padStart(20)).join('')}${String(r.rps).padStart(9)}${r.p50.padStart(9)}${r.p99.padStart(9)}`);
}
console.log('\nround robin sends the slow backend a third of the traffic; the load-aware balancers send it far less.');
await Promise.all(backends.map((b) => new Promise((resolve) => { b.server.closeAllConnections(); b.server.close(resolve); })));
