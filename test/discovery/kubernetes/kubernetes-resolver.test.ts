import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { ManualClock } from '../../../src/core/clock.js';
import { MeshError } from '../../../src/core/errors.js';
import type { EndpointAddress } from '../../../src/discovery/endpoint-address.js';
import { inClusterCredentials } from '../../../src/discovery/kubernetes/in-cluster-credentials.js';
import { KubernetesResolver } from '../../../src/discovery/kubernetes/kubernetes-resolver.js';
import { resolverFromSpec } from '../../../src/discovery/parse-discovery.js';
import { EventQueue } from '../../helpers/event-queue.js';
import { FakeKubeApi } from '../../helpers/fake-kube-api.js';
import { endpointSlice, writeKubeconfig } from '../../helpers/kube-objects.js';
import { makeClusterTls } from '../../helpers/kube-tls.js';

const show = (set: readonly EndpointAddress[]) => set.map((e) => `${e.host}:${e.port}`).sort();

test('in a pod: the service-account token is read again when kubelet rotates it, and the watch carries on with the new one', async () => {
  const tls = await makeClusterTls();
  const api = await FakeKubeApi.start({ tls: { certPem: tls.server.certPem, keyPem: tls.server.keyPem, caPem: tls.caPem }, tokens: ['token-1'] });
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-sa-'));
  writeFileSync(join(dir, 'token'), 'token-1');
  writeFileSync(join(dir, 'ca.crt'), tls.caPem);
  writeFileSync(join(dir, 'namespace'), 'default');
  const port = new URL(api.url).port;
  const credentials = inClusterCredentials({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, dir });
  api.put('endpointslices', endpointSlice('reviews', 'reviews-a', ['10.0.0.1']));
  const clock = new ManualClock();
  const resolver = new KubernetesResolver({ service: 'reviews', port: 'http', credentials, clock, random: () => 0 });
  const sets = new EventQueue<string[]>();
  const errors = new EventQueue<Error>();
  resolver.start({ onEndpoints: (set) => sets.push(show(set)), onError: errors.push });
  try {
    assert.deepEqual(await sets.next(), ['10.0.0.1:8080']);
    await api.nextWatch();
    // kubelet swaps the file; the API server stops accepting the old token and ends the watch.
    writeFileSync(join(dir, '..token'), 'token-2');
    renameSync(join(dir, '..token'), join(dir, 'token'));
    api.tokens = new Set(['token-2']);
    api.resetWatches();
    await errors.next('the cut watch');
    const reopened = api.nextWatch();
    await tick();
    clock.advance(1_000);
    assert.equal((await reopened).token, 'token-2');
    api.put('endpointslices', endpointSlice('reviews', 'reviews-a', ['10.0.0.1', '10.0.0.2']));
    assert.deepEqual(await sets.next(), ['10.0.0.1:8080', '10.0.0.2:8080']);
    assert.deepEqual([...new Set(api.requests.map((r) => r.token))], ['token-1', 'token-2']);
    assert.ok(api.requests.every((r) => r.status !== 401), 'the old token was never sent after the rotation');
  } finally {
    await resolver.close();
    await api.close();
  }
});

test("an extra label selector narrows the Service's slices, and the namespace defaults to the credentials'", async () => {
  const api = await FakeKubeApi.start();
  const kubeconfig = writeKubeconfig(mkdtempSync(join(tmpdir(), 'meshwork-k8s-')), api, { namespace: 'shop' });
  const v1 = endpointSlice('reviews', 'reviews-v1', ['10.0.1.1'], undefined, 'shop');
  const v2 = endpointSlice('reviews', 'reviews-v2', ['10.0.2.1'], undefined, 'shop');
  v2.metadata.labels = { ...v2.metadata.labels, version: 'v2' };
  api.put('endpointslices', v1);
  api.put('endpointslices', v2);
  api.put('endpointslices', endpointSlice('reviews', 'reviews-other-ns', ['10.0.9.1'], undefined, 'default'));
  const resolver = resolverFromSpec({ type: 'kubernetes', service: 'reviews', port: 'http', labelSelector: 'version=v2', kubeconfig });
  assert.equal(resolver.description, 'k8s:reviews.shop:http (version=v2)');
  const sets = new EventQueue<string[]>();
  resolver.start({ onEndpoints: (set) => sets.push(show(set)), onError: () => undefined });
  try {
    assert.deepEqual(await sets.next(), ['10.0.2.1:8080']);
    assert.equal(api.requests[0]!.path, '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices');
    assert.equal(api.requests[0]!.query.get('labelSelector'), 'kubernetes.io/service-name=reviews,version=v2');
  } finally {
    await resolver.close();
    await api.close();
  }
});

test('k8s: strings and the object form pick the Kubernetes resolver; bad ones name the field and the value', async () => {
  const api = await FakeKubeApi.start();
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-k8s-'));
  const kubeconfig = writeKubeconfig(dir, api, {});
  const env = process.env.KUBECONFIG;
  process.env.KUBECONFIG = kubeconfig;
  try {
    const cases: [unknown, string][] = [
      ['k8s:reviews.default:http', 'k8s:reviews.default:http'],
      ['k8s:reviews.shop.svc.cluster.local:9080', 'k8s:reviews.shop:9080'],
      ['k8s:reviews:grpc-api', 'k8s:reviews.default:grpc-api'],
      [{ type: 'kubernetes', service: 'reviews', namespace: 'shop', port: 8080, watchTimeout: '2m', requestTimeout: 5000, backoff: { base: '500ms', max: '10s' } }, 'k8s:reviews.shop:8080'],
      [{ type: 'kubernetes', service: 'reviews', port: 'http', kubeconfig: 'kubeconfig' }, 'k8s:reviews.default:http'],
    ];
    for (const [spec, description] of cases) {
      const resolver = resolverFromSpec(spec as never, { baseDir: dir });
      assert.ok(resolver instanceof KubernetesResolver, JSON.stringify(spec));
      assert.equal(resolver.description, description);
      await resolver.close();
    }
    const bad: [unknown, RegExp][] = [
      ['k8s:reviews.default', /"k8s:reviews\.default" needs a port: k8s:<service>\.<namespace>:<port name or number>/],
      ['k8s:Reviews.default:http', /service "Reviews" is not a Kubernetes Service name/],
      ['k8s:reviews.default:99999', /port "99999" is neither a port number/],
      ['k8s:reviews.a.b:http', /expected <service>\.<namespace>, got "reviews\.a\.b"/],
      [{ type: 'kubernetes', service: 'reviews', port: 'http', namespace: 'Shop' }, /namespace "Shop" is not a Kubernetes namespace name/],
      [{ type: 'kubernetes', service: 'reviews', port: 'http', selector: 'x' }, /unknown field "selector"; a kubernetes discovery takes service, namespace, port, labelSelector/],
      [{ type: 'kubernetes', service: 'reviews', port: 'http', watchTimeout: 'soon' }, /"watchTimeout" must be a duration such as 30s or 5m, got "soon"/],
      [{ type: 'kubernetes', service: 'reviews', port: 'http', kubeconfig: '/nonexistent/kubeconfig' }, /kubeconfig: cannot read \/nonexistent\/kubeconfig \(ENOENT\)/],
    ];
    for (const [spec, message] of bad) {
      assert.throws(
        () => resolverFromSpec(spec as never, { service: 'reviews', baseDir: dir }),
        (err: unknown) => err instanceof MeshError && err.code === 'INVALID_OPTIONS' && /^service "reviews": discovery: /.test(err.message) && message.test(err.message),
        JSON.stringify(spec),
      );
    }
  } finally {
    if (env === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = env;
    await api.close();
  }
});
