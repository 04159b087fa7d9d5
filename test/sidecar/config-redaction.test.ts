/**
 * The admin server's /config shows policies and hides credentials: the authorization rules, routes
 * and which headers they match are what an operator needs to see; the token a header match expects,
 * key material and password-like fields are not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../../src/core/logger.js';
import { startAdminServer } from '../../src/admin/admin-server.js';
import { startBackend } from '../helpers/http-backend.js';
import { startSidecarProcess } from '../helpers/sidecar-process.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaW1vbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

test('mesh-sidecar /config shows the authorization policy and redacts the credentials in header matches', async () => {
  const backend = await startBackend('words');
  const sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  sidecar:
    authorization:
      - name: simon reads
        from: ["spiffe://cluster.local/ns/default/sa/simon"]
        routes:
          - method: GET
            pathRegex: /words/.*
            headers: { authorization: { prefix: "Bearer s3cr3t-prefix" }, x-api-key: k-7f3a9c, cookie: { present: true }, x-tenant: acme }
      - from: ["spiffe://cluster.local/ns/ops/*"]
  services:
    words:
      endpoints: ["${backend.address}"]
      routes:
        - name: admin-only
          condition: { method: GET, pathRegex: /admin, headers: { authorization: "Bearer s3cr3t", x-debug: "${JWT}", x-user: simon } }
      faults:
        - match: { headers: { x-session-token: { exact: tok-12345 } } }
          abort: { percent: 100, httpStatus: 503 }
`);
  try {
    const res = await fetch(`http://${sidecar.admin}/config`);
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const secret of ['s3cr3t', 'k-7f3a9c', JWT, 'tok-12345']) assert.ok(!text.includes(secret), `${secret} is not shown`);
    const config = JSON.parse(text) as {
      sidecar: { authorization: unknown };
      services: { words: { policy: { routes: { condition: unknown }[]; faults: { match: unknown }[] } } };
    };
    assert.deepEqual(config.sidecar.authorization, [
      {
        name: 'simon reads',
        from: ['spiffe://cluster.local/ns/default/sa/simon'],
        routes: [{ method: 'GET', pathRegex: '/words/.*', headers: { authorization: { prefix: '(redacted)' }, 'x-api-key': '(redacted)', cookie: { present: true }, 'x-tenant': 'acme' } }],
      },
      { from: ['spiffe://cluster.local/ns/ops/*'] },
    ]);
    const policy = config.services.words.policy;
    assert.deepEqual(policy.routes[0]!.condition, { method: 'GET', pathRegex: '/admin', headers: { authorization: '(redacted)', 'x-debug': '(redacted)', 'x-user': 'simon' } });
    assert.deepEqual(policy.faults[0]!.match, { headers: { 'x-session-token': { exact: '(redacted)' } } });
  } finally {
    await sidecar.stop();
    await backend.stop();
  }
});

test('the admin server redacts key material, credential fields and credential-looking values wherever they are', async () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';
  const config = {
    identity: { spiffeId: 'spiffe://cluster.local/ns/default/sa/words', files: { certFile: 'words/tls.crt', keyFile: 'words/tls.key' }, key: pem },
    upstream: { url: 'https://svc:hunter2@db.internal:5432/app', plain: 'https://db.internal:5432/app' },
    extras: { password: 'hunter2', apiKey: 'ak-1', privateKey: { pem }, clientSecret: 'cs-1', accessToken: 'at-1', authorization: 'Basic dXNlcjpwYXNz', credentials: ['c-1'] },
    note: `Bearer ${JWT}`,
    authorization: [{ from: ['spiffe://cluster.local/*'] }],
    routes: [{ name: 'r', condition: { headers: { ':authority': 'words', host: 'words' } } }],
  };
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0 }, { registry: new Registry(), ready: () => true, config: () => config }, silentLogger);
  try {
    const shown = (await (await fetch(`http://127.0.0.1:${admin.address.port}/config`)).json()) as typeof config;
    assert.deepEqual(shown, {
      identity: { spiffeId: 'spiffe://cluster.local/ns/default/sa/words', files: { certFile: 'words/tls.crt', keyFile: 'words/tls.key' }, key: '(redacted)' },
      upstream: { url: '(redacted)', plain: 'https://db.internal:5432/app' },
      extras: { password: '(redacted)', apiKey: '(redacted)', privateKey: '(redacted)', clientSecret: '(redacted)', accessToken: '(redacted)', authorization: '(redacted)', credentials: '(redacted)' },
      note: '(redacted)',
      authorization: [{ from: ['spiffe://cluster.local/*'] }],
      routes: [{ name: 'r', condition: { headers: { ':authority': 'words', host: 'words' } } }],
    });
  } finally {
    await admin.close();
  }
});
