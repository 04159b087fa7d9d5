import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshError } from '../../src/core/errors.js';
import { DnsResolver } from '../../src/discovery/dns-resolver.js';
import { FileResolver } from '../../src/discovery/file-resolver.js';
import { resolverFromSpec } from '../../src/discovery/parse-discovery.js';
import { StaticResolver } from '../../src/discovery/static-resolver.js';

test('string forms pick the right resolver', async () => {
  const cases: [unknown, Function, RegExp][] = [
    ['file:./eps.json', FileResolver, /^file:\/.*\/eps\.json$/],
    ['dns:reviews.local:8080', DnsResolver, /^dns:reviews\.local:8080$/],
    ['dns+srv:_http._tcp.reviews.local', DnsResolver, /^dns\+srv:_http\._tcp\.reviews\.local$/],
    [['127.0.0.1:1', { host: '::1', port: 2 }], StaticResolver, /^static:127\.0\.0\.1:1,::1:2$/],
    [{ type: 'dns', hostname: 'a.b', port: 1, nameservers: ['127.0.0.1:5353'] }, DnsResolver, /^dns:a\.b:1 via 127\.0\.0\.1:5353$/],
    [{ type: 'file', path: '/tmp/x.yaml' }, FileResolver, /^file:\/tmp\/x\.yaml$/],
    [{ type: 'static', endpoints: ['h:1'] }, StaticResolver, /^static:h:1$/],
  ];
  for (const [spec, type, description] of cases) {
    const resolver = resolverFromSpec(spec as never, { baseDir: '/srv/app' });
    assert.ok(resolver instanceof type, `${JSON.stringify(spec)} → ${type.name}`);
    assert.match(resolver.description, description);
    await resolver.close();
  }
  assert.equal(resolverFromSpec('file:eps.json', { baseDir: '/srv/app' }).description, 'file:/srv/app/eps.json');
});

test('the static resolver emits its list once on start', () => {
  const sets: unknown[] = [];
  resolverFromSpec(['127.0.0.1:1']).start({ onEndpoints: (e) => sets.push(e), onError: () => assert.fail() });
  assert.deepEqual(sets, [[{ host: '127.0.0.1', port: 1 }]]);
});

test('bad specs are INVALID_OPTIONS errors that name the service and list accepted forms', () => {
  const cases: [unknown, RegExp][] = [
    ['consul:reviews', /"consul:reviews" is not a discovery source/],
    ['dns:reviews.local', /"dns:reviews\.local" needs a port: dns:<host>:<port>/],
    ['file:', /"file:" needs a path/],
    ['dns+srv:', /"dns\+srv:" needs a record name/],
    [{ type: 'dns', hostname: 'x', port: 0 }, /"port" must be a whole number from 1 to 65535, got 0/],
    [{ type: 'etcd' }, /unknown type "etcd"/],
    [['nohost'], /"nohost" is not an endpoint; expected host:port/],
    [42, /expected a string, a list or an object, got 42/],
  ];
  for (const [spec, message] of cases) {
    assert.throws(
      () => resolverFromSpec(spec as never, { service: 'reviews' }),
      (err: unknown) => err instanceof MeshError && err.code === 'INVALID_OPTIONS' && message.test(err.message) && /^service "reviews": discovery: /.test(err.message) && /accepted forms:/.test(err.message),
      `spec ${JSON.stringify(spec)}`,
    );
  }
});
