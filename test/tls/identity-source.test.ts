import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { ManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/logger.js';
import { createAuthority, issueLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';
import { IdentitySource } from '../../src/tls/identity-source.js';

const ID = 'spiffe://cluster.local/ns/default/sa/words';

function recordingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const log = (level: string) => (message: string) => lines.push({ level, message });
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

test('an expiring certificate is warned about in the log and exposed as a gauge', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-identity-'));
  try {
    const ca = await createAuthority({ trustDomain: 'cluster.local' });
    const now = Date.now();
    const leaf = await issueLeaf(ca, ID, { ttlMs: 3 * 3600_000, now: new Date(now) });
    const files = await writeLeaf(dir, leaf, ca.root.certPem);
    const clock = new ManualClock(now);
    const logger = recordingLogger();
    const registry = new Registry();
    const source = await IdentitySource.load({ certFile: files.certFile, keyFile: files.keyFile, trustAnchorsFile: files.caFile }, { clock, logger, registry });
    try {
      assert.equal(source.current().spiffeId, ID);
      assert.equal(logger.lines.filter((l) => l.level === 'warn').length, 0);
      // Default warning point: a third of the lifetime left (the leaf starts a minute early).
      clock.advance(2 * 3600_000 + 5 * 60_000);
      assert.match(logger.lines.find((l) => l.level === 'warn')?.message ?? '', /expires soon/);
      const text = await registry.metrics();
      const expiry = Number(/meshwork_identity_certificate_expiry_timestamp_seconds\{spiffe_id="[^"]+"\} (\d+)/.exec(text)?.[1]);
      assert.equal(expiry, Math.floor(leaf.notAfter.getTime() / 1000));
      clock.advance(3600_000);
      assert.ok(logger.lines.some((l) => l.level === 'warn' && /has expired/.test(l.message)));
    } finally {
      source.close();
    }
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
