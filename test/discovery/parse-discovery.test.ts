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

test('bad specs are INVALID_OPTIONS errors that name the service and the field, and quote the value', () => {
  const FORMS = /'file:<path>', 'dns:<host>:<port>', 'dns\+srv:<name>', 'k8s:<service>.<namespace>:<port>', a list of 'host:port', or \{ type: /;
  const cases: [unknown, string, RegExp][] = [
    ['consul:reviews', 'discovery', /^expected one of .*, got "consul:reviews"$/],
    ['dns:reviews.local', 'discovery', /^expected dns:<host>:<port>, e\.g\. dns:reviews\.local:8080, got "dns:reviews\.local"$/],
    ['file:', 'discovery', /^expected a path after "file:", e\.g\. file:\.\/endpoints\.json, got "file:"$/],
    ['dns+srv:', 'discovery', /^expected a record name after "dns\+srv:", .*, got "dns\+srv:"$/],
    [42, 'discovery', /^expected a string, a list or an object \(.*\), got 42$/],
    [['127.0.0.1:1', 'nohost'], 'discovery[1]', /^expected host:port, e\.g\. 127\.0\.0\.1:8080 or \[::1\]:8080, got "nohost"$/],
    [['h:99999'], 'discovery[0]', /^port 99999 is out of range 1-65535, got "h:99999"$/],
    [[{ host: 'h', port: 'http' }], 'discovery[0].port', /^expected a whole number from 1 to 65535, got "http"$/],
    [[{ host: '', port: 1 }], 'discovery[0].host', /^expected a host name or address, got ""$/],
    [[{ host: 'h', port: 1, identity: 'words' }], 'discovery[0].identity', /^expected a SPIFFE ID .*, got "words"$/],
    [[{ host: 'h', port: 1, zone: 'a' }], 'discovery[0]', /^unknown field "zone"; allowed: /],
    [{ type: 'etcd' }, 'discovery.type', /^expected one of 'static' \| 'file' \| 'dns' \| 'dns\+srv' \| 'kubernetes', got "etcd"$/],
    [{ type: 'dns', hostname: 'x', port: 0 }, 'discovery.port', /^expected a whole number from 1 to 65535, got 0$/],
    [{ type: 'dns', hostname: '', port: 1 }, 'discovery.hostname', /^expected a host name, got ""$/],
    [{ type: 'dns', hostname: 'x', port: 1, nameservers: ['127.0.0.1:5353', 'ns1.local'] }, 'discovery.nameservers[1]', /^expected an IP address with an optional port .*, got "ns1\.local"$/],
    [{ type: 'dns', hostname: 'x', port: 1, nameservers: '127.0.0.1' }, 'discovery.nameservers', /^expected a list of nameserver addresses .*, got "127\.0\.0\.1"$/],
    [{ type: 'dns', hostname: 'x', port: 1, refreshIntervalMs: -5 }, 'discovery.refreshIntervalMs', /^expected milliseconds above 0, got -5$/],
    [{ type: 'dns', hostname: 'x', port: 1, nameserver: ['127.0.0.1'] }, 'discovery', /^unknown field "nameserver" for type dns; allowed: type, hostname, port, nameservers, /],
    [{ type: 'dns+srv', name: 7 }, 'discovery.name', /^expected an SRV record name such as _http\._tcp\.reviews\.local, got 7$/],
    [{ type: 'file', path: '' }, 'discovery.path', /^expected a file path, got ""$/],
    [{ type: 'file', path: 'eps.json', pollIntervalMs: '2s' }, 'discovery.pollIntervalMs', /^expected milliseconds above 0, got "2s"$/],
    [{ type: 'static', endpoints: 'h:1' }, 'discovery.endpoints', /^expected a list of endpoints .*, got "h:1"$/],
    [{ type: 'static', endpoints: ['h:1', 'h'] }, 'discovery.endpoints[1]', /^expected host:port, .*, got "h"$/],
  ];
  for (const [spec, field, message] of cases) {
    assert.throws(
      () => resolverFromSpec(spec as never, { service: 'reviews' }),
      (err: unknown) => {
        assert.ok(err instanceof MeshError && err.code === 'INVALID_OPTIONS', String(err));
        const prefix = `service "reviews": ${field}: `;
        assert.ok(err.message.startsWith(prefix), `${err.message} starts with ${prefix}`);
        assert.match(err.message.slice(prefix.length), message);
        return true;
      },
      `spec ${JSON.stringify(spec)}`,
    );
  }
  assert.throws(() => resolverFromSpec('consul:reviews' as never), FORMS, 'a spec of no known form lists the forms');
});
