import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { ManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/logger.js';
import { createMesh } from '../../src/client/create-mesh.js';
import { createAuthority, issueLeaf, type IssuedLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';
import { IdentitySource } from '../../src/tls/identity-source.js';

const ID = 'spiffe://cluster.local/ns/default/sa/words';
const HOUR = 3600_000;

type LogLine = { level: string; message: string; fields: Record<string, unknown> };

function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = (level: string) => (message: string, fields: Record<string, unknown> = {}) => lines.push({ level, message, fields });
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/**
 * An identity written to a temp dir and loaded on a ManualClock whose monotonic time starts at 0,
 * as a process's does, and whose wall clock starts `wallOffsetMs` after the certificate was issued
 * (to the second, as X.509 records it).
 */
async function withIdentity(
  leafOptions: { ttlMs: number },
  sourceOptions: { warnBeforeMs?: number; wallOffsetMs?: number },
  body: (context: { source: IdentitySource; clock: ManualClock; logger: ReturnType<typeof recordingLogger>; registry: Registry; leaf: IssuedLeaf }) => Promise<void> | void,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-identity-'));
  try {
    const ca = await createAuthority({ trustDomain: 'cluster.local' });
    const leaf = await issueLeaf(ca, ID, { ttlMs: leafOptions.ttlMs });
    const files = await writeLeaf(dir, leaf, ca.root.certPem);
    const { wallOffsetMs = 0, ...rest } = sourceOptions;
    const clock = new ManualClock(0, leaf.notAfter.getTime() - leafOptions.ttlMs + wallOffsetMs);
    const logger = recordingLogger();
    const registry = new Registry();
    const source = await IdentitySource.load({ certFile: files.certFile, keyFile: files.keyFile, trustAnchorsFile: files.caFile }, { clock, logger, registry, ...rest });
    try {
      await body({ source, clock, logger, registry, leaf });
    } finally {
      source.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const expiryLines = (logger: ReturnType<typeof recordingLogger>) => logger.lines.filter((l) => /identity certificate/.test(l.message)).map((l) => `${l.level}: ${l.message}`);

async function gaugeValue(registry: Registry): Promise<number> {
  const text = await registry.metrics();
  return Number(/meshwork_identity_certificate_expiry_timestamp_seconds\{spiffe_id="[^"]+"\} (\d+)/.exec(text)?.[1]);
}

test('a 24 h certificate with a 48 h expiry warning is warned about at once', async () => {
  await withIdentity({ ttlMs: 24 * HOUR }, { warnBeforeMs: 48 * HOUR }, ({ logger, leaf }) => {
    assert.deepEqual(expiryLines(logger), ['warn: the identity certificate expires soon and has not been rotated']);
    const fields = logger.lines[0]!.fields;
    assert.equal(fields.notAfter, leaf.notAfter.toISOString());
    assert.equal(fields.secondsLeft, 24 * 3600);
  });
});

test('an already expired certificate is logged as expired at once, at error level', async () => {
  await withIdentity({ ttlMs: HOUR }, { wallOffsetMs: 3 * HOUR }, ({ logger }) => {
    assert.deepEqual(expiryLines(logger), ['error: the identity certificate has expired; peers refuse it and new mTLS connections fail until it is renewed']);
    assert.equal(logger.lines[0]!.fields.secondsLeft, -2 * 3600);
  });
});

test('the warning comes when the clock crosses the threshold, the error at expiry; the gauge holds notAfter throughout', async () => {
  await withIdentity({ ttlMs: 3 * HOUR }, {}, async ({ logger, clock, registry, leaf }) => {
    const notAfterSeconds = Math.floor(leaf.notAfter.getTime() / 1000);
    assert.deepEqual(expiryLines(logger), []);
    assert.equal(await gaugeValue(registry), notAfterSeconds);
    // Default warning point: a third of the lifetime left (the leaf starts a minute early, so the
    // lifetime is 3 h 1 min and the warning is due 1 h 0 min 20 s before the end).
    const warningDue = 3 * HOUR - (HOUR + 20_000);
    clock.advance(warningDue - 1);
    assert.deepEqual(expiryLines(logger), []);
    clock.advance(1);
    assert.deepEqual(expiryLines(logger), ['warn: the identity certificate expires soon and has not been rotated']);
    assert.equal(await gaugeValue(registry), notAfterSeconds);
    clock.advance(3 * HOUR - warningDue);
    assert.equal(expiryLines(logger).at(-1), 'error: the identity certificate has expired; peers refuse it and new mTLS connections fail until it is renewed');
    assert.equal(logger.lines.at(-1)!.fields.secondsLeft, 0);
    assert.equal(await gaugeValue(registry), notAfterSeconds);
  });
});

test('validityError says when the local certificate cannot be presented, by the injected wall clock', async () => {
  await withIdentity({ ttlMs: HOUR }, {}, ({ source, clock, leaf }) => {
    assert.equal(source.validityError(), undefined);
    clock.advance(HOUR + 1);
    const expired = source.validityError();
    assert.equal(expired?.code, 'TLS_FAILED');
    assert.equal(expired?.message.startsWith(`the local certificate ${ID} expired at ${leaf.notAfter.toISOString()}; renew it (`), true, expired?.message);
  });
  await withIdentity({ ttlMs: HOUR }, { wallOffsetMs: -2 * HOUR }, ({ source, leaf }) => {
    assert.match(source.validityError()?.message ?? '', new RegExp(`is not valid until ${leaf.notBefore.toISOString()}`));
  });
});

test('expiryWarning from a mesh config applies on the mesh clock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-identity-'));
  try {
    const ca = await createAuthority({ trustDomain: 'cluster.local' });
    const files = await writeLeaf(join(dir, 'words'), await issueLeaf(ca, ID), ca.root.certPem);
    const config = join(dir, 'mesh.yaml');
    writeFileSync(config, `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  identity: { certFile: ${files.certFile}, keyFile: ${files.keyFile}, trustAnchorsFile: ${files.caFile}, expiryWarning: 48h }\n  services: {}\n`);
    const logger = recordingLogger();
    const mesh = createMesh({ config, watch: false, clock: new ManualClock(), logger });
    await mesh.close();
    assert.deepEqual(expiryLines(logger), ['warn: the identity certificate expires soon and has not been rotated']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('files that cannot serve are refused with the file named; a bad rotation keeps the last good identity', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-identity-'));
  try {
    const ca = await createAuthority({ trustDomain: 'cluster.local' });
    const files = await writeLeaf(dir, await issueLeaf(ca, ID), ca.root.certPem);
    const other = await issueLeaf(ca, ID);
    const paths = { certFile: files.certFile, keyFile: files.keyFile, trustAnchorsFile: files.caFile };
    await assert.rejects(IdentitySource.load({ ...paths, keyFile: join(dir, 'missing.key') }), /cannot read the key .*missing\.key \(ENOENT\)/);
    const mismatched = join(dir, 'other.key');
    writeFileSync(mismatched, other.keyPem, { mode: 0o600 });
    await assert.rejects(IdentitySource.load({ ...paths, keyFile: mismatched }), /does not belong to the certificate/);

    const logger = recordingLogger();
    const source = await IdentitySource.load(paths, { logger, pollIntervalMs: 100 });
    try {
      const before = source.current();
      writeFileSync(files.keyFile, other.keyPem);
      for (let i = 0; i < 60 && !logger.lines.some((l) => l.level === 'error'); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(logger.lines.some((l) => l.level === 'error' && /keeping the current certificate/.test(l.message)));
      assert.equal(source.current(), before);
    } finally {
      source.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
