import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { endpointsFromSlices, type EndpointSlice, type SliceEndpoint } from '../../../src/discovery/kubernetes/endpoint-slices.js';

const slice = (name: string, endpoints: SliceEndpoint[], ports: EndpointSlice['ports'] = [{ name: 'http', port: 8080, protocol: 'TCP' }], addressType = 'IPv4'): EndpointSlice => ({
  metadata: { name, namespace: 'default' },
  addressType,
  endpoints,
  ports,
});
const at = (address: string, conditions: SliceEndpoint['conditions'] = { ready: true }): SliceEndpoint => ({ addresses: [address], conditions });
const hosts = (slices: EndpointSlice[], port: string | number = 'http') =>
  endpointsFromSlices(slices, port)
    .map((e) => `${e.host}:${e.port}`)
    .sort();

test('ready endpoints take traffic, and a ready condition left out (nil) means ready', () => {
  assert.deepEqual(hosts([slice('a', [at('10.0.0.1'), at('10.0.0.2', {}), { addresses: ['10.0.0.3'] }, at('10.0.0.4', { ready: false })])]), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
});

test('serving + terminating endpoints are used only when no endpoint is ready', () => {
  const terminating = at('10.0.0.9', { ready: false, serving: true, terminating: true });
  assert.deepEqual(hosts([slice('a', [at('10.0.0.1'), terminating])]), ['10.0.0.1:8080']);
  assert.deepEqual(hosts([slice('a', [terminating, at('10.0.0.8', { ready: false, serving: false, terminating: true })])]), ['10.0.0.9:8080']);
  // Not ready and not terminating (a pod still starting) is never used, even when nothing else is there.
  assert.deepEqual(hosts([slice('a', [at('10.0.0.7', { ready: false, serving: true, terminating: false }), at('10.0.0.6', { ready: false })])]), []);
});

test('the port is resolved by name in each slice, so two slices may map it to different numbers', () => {
  const v1 = slice('v1', [at('10.0.0.1')], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'admin', port: 9990, protocol: 'TCP' }]);
  const v2 = slice('v2', [at('10.0.0.2')], [{ name: 'http', port: 9080, protocol: 'TCP' }]);
  const other = slice('other', [at('10.0.0.3')], [{ name: 'grpc', port: 7070, protocol: 'TCP' }]);
  assert.deepEqual(hosts([v1, v2, other]), ['10.0.0.1:8080', '10.0.0.2:9080']);
  assert.deepEqual(hosts([v1, v2, other], 'admin'), ['10.0.0.1:9990']);
  // A number is the endpoints' own port, as the slice lists it.
  assert.deepEqual(hosts([v1, v2, other], 9080), ['10.0.0.2:9080']);
  // An unnamed port (a Service with a single port) has the name "".
  assert.deepEqual(hosts([slice('u', [at('10.0.0.4')], [{ port: 80, protocol: 'TCP' }])], 80), ['10.0.0.4:80']);
  // UDP ports are not for HTTP.
  assert.deepEqual(hosts([slice('d', [at('10.0.0.5')], [{ name: 'http', port: 53, protocol: 'UDP' }])]), []);
});

test('slices are merged; an address in two slices counts once, with its best condition', () => {
  const first = slice('a', [at('10.0.0.1'), at('10.0.0.2', { ready: false })]);
  const second = slice('b', [at('10.0.0.2'), at('10.0.0.3'), at('10.0.0.1')]);
  const merged = endpointsFromSlices([first, second], 'http');
  assert.equal(merged.length, 3);
  assert.deepEqual(hosts([first, second]), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
});

test('IPv6 slices are used, FQDN slices and empty ones are skipped, and only the first address of an endpoint counts', () => {
  const v6 = slice('v6', [{ addresses: ['fd00::1', 'fd00::2'], conditions: { ready: true } }], undefined, 'IPv6');
  const fqdn = slice('f', [at('reviews.example.com')], undefined, 'FQDN');
  const empty: EndpointSlice = { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: null, ports: null };
  assert.deepEqual(endpointsFromSlices([v6, fqdn, empty], 'http'), [{ host: 'fd00::1', port: 8080 }]);
});

test('the captured list of a real API server gives its ready endpoints', () => {
  const list = JSON.parse(readFileSync(new URL('../../fixtures/kubernetes/endpointslice-list.json', import.meta.url), 'utf8')) as { items: EndpointSlice[] };
  assert.deepEqual(hosts(list.items), ['10.244.1.12:9080', '10.244.1.13:9080', '10.244.2.7:9080']);
});
