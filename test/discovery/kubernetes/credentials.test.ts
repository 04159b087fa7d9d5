import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCredentials } from '../../../src/discovery/kubernetes/credentials.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBcA==\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcB==\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAg==\n-----END PRIVATE KEY-----\n';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function serviceAccountDir(token = 'token-1'): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-sa-'));
  writeFileSync(join(dir, 'token'), `${token}\n`);
  writeFileSync(join(dir, 'ca.crt'), CA);
  writeFileSync(join(dir, 'namespace'), 'shop');
  return dir;
}

test('in a pod: KUBERNETES_SERVICE_HOST/PORT, the mounted CA and namespace, and a token read again after kubelet rotates it', async () => {
  const dir = serviceAccountDir();
  const credentials = loadCredentials({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: dir });
  assert.equal(credentials.server, 'https://10.96.0.1:443');
  assert.equal(credentials.namespace, 'shop');
  assert.equal(credentials.tls.ca, CA);
  assert.equal(await credentials.token(), 'token-1');
  // kubelet writes the new token beside the old and renames it over (an atomic swap).
  writeFileSync(join(dir, '.token.new'), 'token-2\n');
  renameSync(join(dir, '.token.new'), join(dir, 'token'));
  assert.equal(await credentials.token(), 'token-2');
  // IPv6 service addresses are bracketed.
  assert.equal(loadCredentials({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, serviceAccountDir: dir }).server, 'https://[fd00::1]:6443');
});

test('in a pod without a mounted token, the error names the file and the likely cause', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-sa-'));
  assert.throws(() => loadCredentials({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, serviceAccountDir: dir }), /cannot read the service-account token .*\/token \(ENOENT\); is a service account token mounted \(automountServiceAccountToken\)\?/);
});

function kubeconfig(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('a kubeconfig: the current context picks the cluster (server, CA data) and the user (token), and its namespace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-kubeconfig-'));
  const path = kubeconfig(
    dir,
    'config',
    `apiVersion: v1
kind: Config
current-context: dev
clusters:
  - name: dev-cluster
    cluster: { server: "https://127.0.0.1:6443/", certificate-authority-data: ${b64(CA)} }
  - name: prod-cluster
    cluster: { server: "https://prod.example:443", certificate-authority: ca.crt, tls-server-name: kubernetes }
users:
  - name: dev-user
    user: { token: abc }
  - name: prod-user
    user: { client-certificate: client.crt, client-key-data: ${b64(KEY)} }
contexts:
  - name: dev
    context: { cluster: dev-cluster, user: dev-user, namespace: shop }
  - name: prod
    context: { cluster: prod-cluster, user: prod-user }
`,
  );
  writeFileSync(join(dir, 'ca.crt'), CA);
  writeFileSync(join(dir, 'client.crt'), CERT);
  const dev = loadCredentials({ env: {}, kubeconfig: path });
  assert.equal(dev.server, 'https://127.0.0.1:6443');
  assert.equal(dev.namespace, 'shop');
  assert.equal(dev.tls.ca, CA);
  assert.equal(await dev.token(), 'abc');
  assert.match(dev.source, /context "dev"/);
  // Another context; relative paths are against the kubeconfig's directory.
  const prod = loadCredentials({ env: {}, kubeconfig: path, context: 'prod' });
  assert.equal(prod.namespace, 'default');
  assert.deepEqual(prod.tls, { ca: CA, cert: CERT, key: KEY, serverName: 'kubernetes' });
  assert.equal(await prod.token(), undefined);
  // KUBECONFIG outside a pod, and a tokenFile read again on each request.
  writeFileSync(join(dir, 'token'), 'first');
  const withFile = kubeconfig(
    dir,
    'token-file',
    `current-context: c
clusters: [{ name: k, cluster: { server: "https://k:1" } }]
users: [{ name: u, user: { tokenFile: token } }]
contexts: [{ name: c, context: { cluster: k, user: u } }]
`,
  );
  const fromEnv = loadCredentials({ env: { KUBECONFIG: withFile } });
  assert.equal(await fromEnv.token(), 'first');
  writeFileSync(join(dir, 'token'), 'second');
  assert.equal(await fromEnv.token(), 'second');
});

test('KUBECONFIG with several files merges them as kubectl does: the first to define a name or current-context wins', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-kubeconfig-'));
  const first = kubeconfig(dir, 'a', `current-context: one\nusers: [{ name: u, user: { token: from-a } }]\n`);
  const second = kubeconfig(
    dir,
    'b',
    `current-context: two
clusters: [{ name: k, cluster: { server: "https://k:1" } }]
users: [{ name: u, user: { token: from-b } }]
contexts: [{ name: one, context: { cluster: k, user: u } }, { name: two, context: { cluster: k, user: u } }]
`,
  );
  const credentials = loadCredentials({ env: { KUBECONFIG: `${first}:${second}` } });
  assert.match(credentials.source, /context "one"/);
  assert.equal(await credentials.token(), 'from-a');
});

test('kubeconfig mistakes fail at once with the file, the entry and what to do', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-kubeconfig-'));
  const base = `clusters: [{ name: k, cluster: { server: "https://k:1" } }]\ncontexts: [{ name: c, context: { cluster: k, user: u } }]\n`;
  const cases: [string, RegExp][] = [
    [`${base}users: [{ name: u, user: { exec: { command: aws } } }]\ncurrent-context: c\n`, /user "u" logs in through exec, which meshwork does not run; give the user a token/],
    [`${base}users: [{ name: u, user: { token: t } }]\n`, /no current-context is set/],
    [`${base}users: [{ name: u, user: { token: t } }]\ncurrent-context: nope\n`, /there is no context "nope"; contexts: c/],
    [`${base}current-context: c\n`, /context "c" names user "u", which is not defined/],
    [`${base}users: [{ name: u, user: { client-certificate-data: ${b64(CERT)} } }]\ncurrent-context: c\n`, /client certificate without its key/],
    [`${base}users: [{ name: u, user: { tokenFile: missing } }]\ncurrent-context: c\n`, /user "u": tokenFile: cannot read .*missing \(ENOENT\)/],
    ['clusters: [{ name: k }]\n', /clusters\[0\] needs a name and a cluster mapping/],
    ['{ not yaml', /not a valid kubeconfig/],
  ];
  for (const [text, message] of cases) {
    const path = kubeconfig(dir, 'config', text);
    assert.throws(() => loadCredentials({ env: {}, kubeconfig: path }), (err: Error) => message.test(err.message) && err.message.includes(path), `${text} → ${message}`);
  }
  assert.throws(() => loadCredentials({ env: { HOME: dir } }), /no Kubernetes credentials: not in a pod \(KUBERNETES_SERVICE_HOST is not set\), KUBECONFIG is not set and .*\.kube\/config does not exist/);
});
