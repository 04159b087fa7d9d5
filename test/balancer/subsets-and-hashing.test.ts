/**
 * The Balancer with subsets (label selectors over one endpoint set), weights from discovery and a
 * consistent-hash picker, driven in memory on a ManualClock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, seededRandom } from '../../src/core/clock.js';
import { isMeshError } from '../../src/core/errors.js';
import { newCallContext, type Service } from '../../src/core/service.js';
import { Watchable } from '../../src/core/watchable.js';
import { Balancer } from '../../src/balancer/balancer.js';
import { LeastRequestLoad } from '../../src/balancer/least-request-load.js';
import { OutlierDetector } from '../../src/balancer/outlier-detector.js';
import type { Picker } from '../../src/balancer/picker.js';
import { ringHashPicker } from '../../src/balancer/ring-hash-picker.js';
import { roundRobinPicker } from '../../src/balancer/round-robin-picker.js';
import { hashString } from '../../src/balancer/hash-string.js';
import type { EndpointAddress } from '../../src/discovery/endpoint-address.js';

const SUBSETS = { v1: { version: 'v1' }, v2: { version: 'v2' }, v3: { version: 'v3' } };

function setup(picker: Picker, options: { hashed?: boolean } = {}) {
  const clock = new ManualClock();
  const made: number[] = [];
  const source = new Watchable<readonly EndpointAddress[] | undefined>(undefined);
  const balancer = new Balancer<string, string>(source, {
    service: 'reviews',
    clock,
    picker,
    newLoad: () => new LeastRequestLoad(),
    outlierDetector: new OutlierDetector({ consecutiveFailures: 1, baseEjectionMs: 1_000, maxEjectedPercent: 100 }, clock),
    makeEndpoint: (address): Service<string, string> => {
      made.push(address.port);
      return { call: (req) => (req.startsWith('fail:') ? Promise.reject(new Error('boom')) : Promise.resolve(`${address.port}`)), close: async () => {} };
    },
    isFailure: () => false,
    discoveryTimeoutMs: 1_000,
    discoveryDescription: 'test',
    subsets: SUBSETS,
    // `fail:<key>` fails on the endpoint that owns <key>.
    ...(options.hashed ? { hashOf: (req: string) => (req.includes('user') ? hashString(req.replace(/^fail:/, '')) : undefined) } : {}),
  });
  const call = (req: string, subset?: string) => {
    const ctx = newCallContext('reviews');
    ctx.subset = subset;
    return balancer.call(req, ctx);
  };
  return { clock, made, source, balancer, call };
}

const pod = (port: number, version: string, weight?: number): EndpointAddress => ({ host: '10.0.0.1', port, labels: { app: 'reviews', version }, ...(weight === undefined ? {} : { weight }) });

test('a subset sends requests only to the endpoints whose labels match it', async () => {
  const env = setup(roundRobinPicker());
  env.source.set([pod(1, 'v1'), pod(2, 'v2'), pod(3, 'v2'), pod(4, 'v3')]);
  const served = new Set<string>();
  for (let i = 0; i < 20; i++) served.add(await env.call('req', 'v2'));
  assert.deepEqual([...served].sort(), ['2', '3']);
  assert.equal(await env.call('req', 'v1'), '1');
  const all = new Set<string>();
  for (let i = 0; i < 20; i++) all.add(await env.call('req'));
  assert.deepEqual([...all].sort(), ['1', '2', '3', '4'], 'no subset: every endpoint');
  assert.deepEqual(env.made, [1, 2, 3, 4], 'one endpoint service each, shared by the subsets');
});

test('a subset with no endpoint fails with NO_ENDPOINTS naming its labels; an unknown subset is a config error', async () => {
  const env = setup(roundRobinPicker());
  env.source.set([pod(1, 'v1')]);
  await assert.rejects(env.call('req', 'v3'), (err: unknown) => isMeshError(err, 'NO_ENDPOINTS') && /subset "v3" of service "reviews" has no endpoints \(none of 1 has the labels \{"version":"v3"\}\)/.test(err.message));
  await assert.rejects(env.call('req', 'v9'), (err: unknown) => isMeshError(err, 'INVALID_CONFIG') && /service "reviews" has no subset "v9"; its subsets: v1, v2, v3/.test(err.message));
});

test('relabelled and reweighted endpoints move between subsets and shares, keeping their connections', async () => {
  const env = setup(roundRobinPicker());
  env.source.set([pod(1, 'v1'), pod(2, 'v1')]);
  await assert.rejects(env.call('req', 'v2'), (err: unknown) => isMeshError(err, 'NO_ENDPOINTS'));
  env.source.set([pod(1, 'v1', 3), pod(2, 'v2')]);
  assert.equal(await env.call('req', 'v2'), '2');
  const picks = [];
  for (let i = 0; i < 8; i++) picks.push(await env.call('req'));
  assert.deepEqual([picks.filter((p) => p === '1').length, picks.filter((p) => p === '2').length], [6, 2], `weights 3:1, picks ${picks.join(' ')}`);
  assert.deepEqual(env.made, [1, 2], 'no new endpoint service for a new label or weight');
});

test('consistent hashing: a key sticks to one endpoint; when it is ejected only its keys move, and come back after', async () => {
  const env = setup(ringHashPicker(seededRandom(1)), { hashed: true });
  env.source.set(Array.from({ length: 10 }, (_, i) => pod(i + 1, 'v1')));
  const users = Array.from({ length: 500 }, (_, i) => `user-${i}`);
  const owners = async () => Promise.all(users.map((u) => env.call(u)));
  const before = await owners();
  assert.deepEqual(await owners(), before, 'sticky');
  // Eject endpoint 4 (one failure is enough here); its keys go elsewhere, nobody else's move.
  await assert.rejects(env.call(`fail:${users[before.indexOf('4')]!}`), /boom/);
  const ejectedOwner = env.balancer.endpoints().find((e) => env.balancer.isEjected(e.key))!.address.port;
  assert.equal(ejectedOwner, 4);
  const during = await owners();
  during.forEach((owner, i) => {
    if (before[i] === String(ejectedOwner)) assert.notEqual(owner, String(ejectedOwner));
    else assert.equal(owner, before[i], `${users[i]} stayed on ${before[i]}`);
  });
  env.clock.advance(1_000);
  assert.deepEqual(await owners(), before, 'readmitted: its keys come back');
});

test('consistent hashing within a subset; a request without a key is spread over the subset', async () => {
  const env = setup(ringHashPicker(seededRandom(1)), { hashed: true });
  env.source.set([pod(1, 'v1'), pod(2, 'v2'), pod(3, 'v2'), pod(4, 'v2')]);
  for (let i = 0; i < 50; i++) assert.notEqual(await env.call(`user-${i}`, 'v2'), '1');
  const keyless = new Set<string>();
  for (let i = 0; i < 50; i++) keyless.add(await env.call('anonymous', 'v2'));
  assert.deepEqual([...keyless].sort(), ['2', '3', '4']);
});
