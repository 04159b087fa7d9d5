import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DnsResolver } from '../../src/discovery/dns-resolver.js';
import { endpointKey, type EndpointAddress } from '../../src/discovery/endpoint-address.js';
import { resolverFromSpec } from '../../src/discovery/parse-discovery.js';
import { startDnsmasq, type Dnsmasq } from '../helpers/dnsmasq.js';

let dir: string;
let dns: Dnsmasq;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshwork-dns-'));
  dns = await startDnsmasq(
    join(dir, 'hosts'),
    [
      ['127.0.0.11', 'reviews.test'],
      ['127.0.0.12', 'reviews.test'],
      ['127.0.0.21', 'r1.reviews.test'],
      ['127.0.0.22', 'r2.reviews.test'],
    ],
    [
      { name: '_http._tcp.reviews.test', target: 'r1.reviews.test', port: 9081, weight: 10 },
      { name: '_http._tcp.reviews.test', target: 'r2.reviews.test', port: 9082, weight: 30 },
    ],
  );
});
after(async () => {
  await dns?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Collects what a resolver reports, and waits for a set or an error that satisfies a condition. */
function watchResolver(resolver: { start(l: { onEndpoints(e: readonly EndpointAddress[]): void; onError(e: Error): void }): void }) {
  const sets: (readonly EndpointAddress[])[] = [];
  const errors: Error[] = [];
  const waiters: (() => void)[] = [];
  resolver.start({
    onEndpoints: (e) => {
      sets.push(e);
      waiters.forEach((w) => w());
    },
    onError: (e) => {
      errors.push(e);
      waiters.forEach((w) => w());
    },
  });
  const until = (what: string, ok: () => boolean, timeoutMs = 8_000) =>
    new Promise<void>((resolve, reject) => {
      if (ok()) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; sets=${JSON.stringify(sets)} errors=${errors.map((e) => e.message)}`)), timeoutMs);
      waiters.push(() => {
        if (ok()) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  const keys = (i = sets.length - 1) => (sets[i] ?? []).map(endpointKey).sort();
  return { sets, errors, until, keys };
}

test('A records of a host name become endpoints with the given port, and follow changes', async () => {
  const resolver = new DnsResolver({ mode: 'host', hostname: 'reviews.test', port: 8080, nameservers: [dns.nameserver], minRefreshMs: 100, maxRefreshMs: 200 });
  const seen = watchResolver(resolver);
  try {
    await seen.until('first set', () => seen.sets.length >= 1);
    assert.deepEqual(seen.keys(), ['127.0.0.11:8080', '127.0.0.12:8080']);
    await dns.setHosts([
      ['127.0.0.12', 'reviews.test'],
      ['127.0.0.13', 'reviews.test'],
      ['127.0.0.21', 'r1.reviews.test'],
      ['127.0.0.22', 'r2.reviews.test'],
    ]);
    await seen.until('the changed set', () => seen.keys().join() === '127.0.0.12:8080,127.0.0.13:8080');
    assert.equal(seen.errors.length, 0);
  } finally {
    await resolver.close();
  }
});

test('SRV records give each target its port and weight; a restart with new records is followed', async () => {
  const resolver = resolverFromSpec({ type: 'dns+srv', name: '_http._tcp.reviews.test', nameservers: [dns.nameserver], refreshIntervalMs: 150 });
  const seen = watchResolver(resolver);
  try {
    await seen.until('first set', () => seen.sets.length >= 1);
    assert.deepEqual(seen.keys(), ['127.0.0.21:9081', '127.0.0.22:9082']);
    const weights = Object.fromEntries(seen.sets.at(-1)!.map((e) => [endpointKey(e), e.weight]));
    assert.deepEqual(weights, { '127.0.0.21:9081': 10, '127.0.0.22:9082': 30 });
    await dns.restart([{ name: '_http._tcp.reviews.test', target: 'r2.reviews.test', port: 9090 }]);
    await seen.until('the new SRV set', () => seen.keys().join() === '127.0.0.22:9090');
  } finally {
    await resolver.close();
  }
});

test('when the nameserver goes away the last set is kept and the error names what failed', async () => {
  const resolver = new DnsResolver({ mode: 'host', hostname: 'r1.reviews.test', port: 80, nameservers: [dns.nameserver], refreshIntervalMs: 100, queryTimeoutMs: 200 });
  const seen = watchResolver(resolver);
  try {
    await seen.until('first set', () => seen.sets.length >= 1);
    await dns.stop();
    await seen.until('an error', () => seen.errors.length >= 1);
    assert.equal(seen.sets.length, 1, 'no set was emitted after the failure');
    assert.match(seen.errors[0]!.message, /dns:r1\.reviews\.test:80 .*A\/AAAA lookup failed \(\w+\) via nameserver 127\.0\.0\.1:\d+; keeping the last 1 endpoint\(s\)/);
  } finally {
    await resolver.close();
    await dns.restart([]);
  }
});

test('a name with no records is an error, not an empty set', async () => {
  const resolver = new DnsResolver({ mode: 'host', hostname: 'missing.reviews.test', port: 80, nameservers: [dns.nameserver], refreshIntervalMs: 5_000 });
  const seen = watchResolver(resolver);
  try {
    await seen.until('an error', () => seen.errors.length >= 1);
    assert.equal(seen.sets.length, 0);
    assert.match(seen.errors[0]!.message, /missing\.reviews\.test.*no endpoints known yet/);
  } finally {
    await resolver.close();
  }
});
