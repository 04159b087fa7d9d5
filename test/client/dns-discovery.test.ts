/**
 * DNS discovery end to end: a real dnsmasq answers A records for a service name, real backends
 * listen on the addresses it names (127.0.0.2 and 127.0.0.3 are loopback too), and the meshClient
 * follows a record change without a request ever failing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { meshClient } from '../../src/index.js';
import { startDnsmasq, type Dnsmasq } from '../helpers/dnsmasq.js';

let dir: string;
let dns: Dnsmasq;
let port: number;
const servers: Server[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshwork-dnsclient-'));
  // One port on two loopback addresses, as a service's pods share a port on different IPs.
  const first = createServer((_req, res) => res.end('127.0.0.2'));
  const second = createServer((_req, res) => res.end('127.0.0.3'));
  servers.push(first, second);
  await new Promise<void>((r) => first.listen(0, '127.0.0.2', r));
  port = (first.address() as AddressInfo).port;
  await new Promise<void>((r) => second.listen(port, '127.0.0.3', r));
  dns = await startDnsmasq(join(dir, 'hosts'), [['127.0.0.2', 'reviews.mesh.test']], []);
});

after(async () => {
  await dns?.stop();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await rm(dir, { recursive: true, force: true });
});

test('a meshClient with DNS discovery balances over the A records and follows their changes', async () => {
  const reviews = meshClient('reviews', {
    discovery: { type: 'dns', hostname: 'reviews.mesh.test', port, nameservers: [dns.nameserver], refreshIntervalMs: 100 },
  });
  const servedBy = async () => (await (await reviews.request({ path: '/' })).body.text());
  try {
    assert.equal(await servedBy(), '127.0.0.2');
    await dns.setHosts([
      ['127.0.0.2', 'reviews.mesh.test'],
      ['127.0.0.3', 'reviews.mesh.test'],
    ]);
    const seen = new Set<string>();
    const deadline = Date.now() + 10_000;
    while (seen.size < 2) {
      assert.ok(Date.now() < deadline, `only ever served by ${[...seen]}`);
      seen.add(await servedBy());
    }
    await dns.setHosts([['127.0.0.3', 'reviews.mesh.test']]);
    while (reviews.endpoints().map((e) => e.endpoint).join() !== `127.0.0.3:${port}`) {
      assert.ok(Date.now() < deadline, `endpoints ${JSON.stringify(reviews.endpoints())}`);
      assert.match(await servedBy(), /^127\.0\.0\.[23]$/, 'no request fails while the set changes');
    }
    for (let i = 0; i < 5; i++) assert.equal(await servedBy(), '127.0.0.3');
  } finally {
    await reviews.close();
  }
});
