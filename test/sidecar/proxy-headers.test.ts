/**
 * The headers the sidecar sends on for an HTTP/1.1 request, built from the raw list: what a proxy
 * must drop (RFC 9110 §7.6.1), what it adds, and what an attacker might try (a second Host, a
 * forged identity, a header smuggled out by naming it in Connection).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardedRequestHeaders } from '../../src/sidecar-mode/proxy-headers.js';

const pairs = (flat: string[]) => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!.toLowerCase(), flat[2 * i + 1]!]);

test('hop-by-hop fields and those Connection names are dropped; TE keeps only trailers', () => {
  const out = pairs(
    forwardedRequestHeaders(
      ['Host', 'words', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', 'timeout=5', 'X-Secret', 'x', 'TE', 'trailers, gzip', 'Transfer-Encoding', 'chunked', 'Proxy-Authorization', 'Basic abc', 'Upgrade', 'h2c', 'Accept', '*/*'],
      { authority: 'words', hops: 1, clientAddress: '10.0.0.1' },
    ),
  );
  const names = out.map(([n]) => n);
  for (const gone of ['connection', 'keep-alive', 'x-secret', 'transfer-encoding', 'proxy-authorization', 'upgrade']) assert.ok(!names.includes(gone), gone);
  assert.deepEqual(out.find(([n]) => n === 'te'), ['te', 'trailers']);
  assert.deepEqual(out.find(([n]) => n === 'accept'), ['accept', '*/*']);
});

test('one Host, the first; the authority when there is none', () => {
  const twice = pairs(forwardedRequestHeaders(['Host', 'words', 'host', 'evil.example'], { authority: 'words', hops: 1, clientAddress: undefined }));
  assert.deepEqual(twice.filter(([n]) => n === 'host'), [['host', 'words']]);
  const none = pairs(forwardedRequestHeaders(['Accept', '*/*'], { authority: 'words:80', hops: 1, clientAddress: undefined }));
  assert.deepEqual(none.filter(([n]) => n === 'host'), [['host', 'words:80']]);
});

test('X-Forwarded-For is a chain the caller cannot end; -Proto and -Host are added unless present', () => {
  const out = pairs(forwardedRequestHeaders(['X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2', 'X-Forwarded-Proto', 'https'], { authority: 'words', hops: 1, clientAddress: '10.0.0.1' }));
  assert.deepEqual(out.filter(([n]) => n === 'x-forwarded-for'), [['x-forwarded-for', '1.1.1.1, 2.2.2.2, 10.0.0.1']]);
  assert.deepEqual(out.filter(([n]) => n === 'x-forwarded-proto'), [['x-forwarded-proto', 'https']]);
  assert.deepEqual(out.filter(([n]) => n === 'x-forwarded-host'), [['x-forwarded-host', 'words']]);
});

test('inbound: a caller-sent identity is always dropped, and the verified one set', () => {
  const forged = ['X-Meshwork-Client-Id', 'spiffe://cluster.local/ns/kube-system/sa/admin', 'x-meshwork-client-id', 'spiffe://x/y'];
  const verified = pairs(forwardedRequestHeaders(forged, { authority: 'words', hops: 1, clientAddress: undefined, clientIdHeader: { name: 'x-meshwork-client-id', value: 'spiffe://cluster.local/ns/default/sa/simon' } }));
  assert.deepEqual(verified.filter(([n]) => n === 'x-meshwork-client-id'), [['x-meshwork-client-id', 'spiffe://cluster.local/ns/default/sa/simon']]);
  const anonymous = pairs(forwardedRequestHeaders(forged, { authority: 'words', hops: 1, clientAddress: undefined, clientIdHeader: { name: 'x-meshwork-client-id', value: undefined } }));
  assert.deepEqual(anonymous.filter(([n]) => n === 'x-meshwork-client-id'), []);
});

test('a header named in Connection is dropped even when its name is not special', () => {
  const out = pairs(forwardedRequestHeaders(['Connection', 'close, Authorization-Extra', 'Authorization-Extra', 'secret', 'Authorization', 'Bearer t'], { authority: 'w', hops: 1, clientAddress: undefined }));
  assert.ok(!out.some(([n]) => n === 'authorization-extra'));
  assert.deepEqual(out.find(([n]) => n === 'authorization'), ['authorization', 'Bearer t']);
});

test('x-meshwork-hops is the count this sidecar sends on, whatever the caller sent (any spelling, any number of times)', () => {
  const out = pairs(forwardedRequestHeaders(['X-Meshwork-Hops', '3', 'x-meshwork-hops', '0', 'Accept', '*/*'], { authority: 'w', hops: 4, clientAddress: undefined }));
  assert.deepEqual(out.filter(([n]) => n === 'x-meshwork-hops'), [['x-meshwork-hops', '4']]);
});
