import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RoutePolicy } from '../../src/core/policy.js';
import { routeModule } from '../../src/filters/route.js';
import { RoutesParam } from '../../src/policy/policy-params.js';
import { harness } from './stack-harness.js';

const routes: RoutePolicy[] = [
  { name: 'GET /reviews/{id}', condition: { method: 'GET', pathRegex: '/reviews/[^/]*' }, isRetryable: true },
  { name: 'jason', condition: { all: [{ pathRegex: '/ratings/.*' }, { headers: { 'end-user': 'jason' } }] } },
  { name: 'not GET', condition: { not: { method: 'GET' }, any: [{ pathRegex: '/a' }, { pathRegex: '/b' }] } },
  { name: 'header regex', condition: { headers: { 'x-version': { regex: 'v[23]' } } } },
];

test('the first matching route names the request and carries its policy', async () => {
  const h = harness([routeModule], [[RoutesParam, routes]]);
  const cases: [Record<string, unknown>, string | undefined][] = [
    [{ path: '/reviews/1' }, 'GET /reviews/{id}'],
    [{ path: '/reviews/1?sort=asc' }, 'GET /reviews/{id}'], // the query string is not part of the path
    [{ path: '/reviews/1/extra' }, undefined], // anchored: the regex must match the whole path
    [{ path: '/xreviews/1' }, undefined],
    [{ method: 'POST', path: '/reviews/1' }, undefined],
    [{ path: '/ratings/7', headers: { 'End-User': 'jason' } }, 'jason'],
    [{ path: '/ratings/7', headers: ['end-user', 'jason'] }, 'jason'],
    [{ path: '/ratings/7', headers: { 'end-user': 'alice' } }, undefined],
    [{ method: 'PUT', path: '/b' }, 'not GET'],
    [{ method: 'GET', path: '/b' }, undefined],
    [{ path: '/other', headers: { 'x-version': 'v3' } }, 'header regex'],
    [{ path: '/other', headers: { 'x-version': 'v30' } }, undefined],
  ];
  for (const [req, expected] of cases) {
    h.seen.length = 0;
    await h.call(req);
    assert.equal(h.seen[0]!.ctx.route, expected, JSON.stringify(req));
    assert.equal(h.seen[0]!.ctx.routePolicy?.name, expected);
  }
  h.seen.length = 0;
  await h.call({ path: '/reviews/9' });
  assert.equal(h.seen[0]!.ctx.routePolicy?.isRetryable, true);
});

test('no routes: the module is not in the path at all', () => {
  const h = harness([routeModule], [[RoutesParam, []]]);
  assert.equal(typeof h.service.call, 'function');
  assert.equal(h.service.close, h.service.close);
});

test('a bad regex is reported with the route it is in', () => {
  assert.throws(() => harness([routeModule], [[RoutesParam, [{ name: 'broken', condition: { pathRegex: '(' } }]]]), /routes\[0\] \("broken"\)\.condition\.pathRegex: "\(" is not a valid regular expression/);
});
