import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile, unlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { createAuthority } from '../../src/tls/certificate-authority.js';
import { runIdentityCommand } from '../../src/sidecar-mode/identity-command.js';
import { readAuthority, writeAuthority } from '../../src/tls/identity-files.js';
import { spiffeIdOfSubjectAltName } from '../../src/tls/spiffe-id.js';

const root = await mkdtemp(join(tmpdir(), 'meshwork-identity-'));
after(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${++dirs}`);

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runIdentityCommand(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

const WEB = 'spiffe://cluster.local/ns/prod/sa/web';

test('init then issue: the files, their modes, and a chain that verifies', async () => {
  const caDir = freshDir();
  const outDir = freshDir();
  const init = await run('init', '--dir', caDir, '--trust-domain', 'cluster.local');
  assert.equal(init.code, 0, init.err);
  assert.match(init.out, /trust domain cluster\.local/);
  assert.deepEqual((await readdir(caDir)).sort(), ['ca.crt', 'ca.key', 'issuer.crt', 'issuer.key'], 'no temporary files left behind');
  assert.equal(await mode(join(caDir, 'ca.key')), 0o600);
  assert.equal(await mode(join(caDir, 'issuer.key')), 0o600);
  assert.equal(await mode(join(caDir, 'ca.crt')), 0o644);
  assert.equal(await mode(join(caDir, 'issuer.crt')), 0o644);

  const issue = await run('issue', '--ca', caDir, '--name', WEB, '--out', outDir, '--ttl', '2h', '--dns', 'web.prod.svc', '--dns', 'web');
  assert.equal(issue.code, 0, issue.err);
  assert.equal(issue.err, '');
  assert.match(issue.out, /Issued spiffe:\/\/cluster\.local\/ns\/prod\/sa\/web/);
  assert.deepEqual((await readdir(outDir)).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  assert.equal(await mode(join(outDir, 'tls.key')), 0o600);
  assert.equal(await mode(join(outDir, 'tls.crt')), 0o644);
  assert.equal(await mode(join(outDir, 'ca.crt')), 0o644);

  const chain = await readFile(join(outDir, 'tls.crt'), 'utf8');
  const [leafPem, issuerPem, extra] = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];
  assert.ok(leafPem && issuerPem && extra === undefined, 'tls.crt is the leaf followed by the issuer');
  const leaf = new X509Certificate(leafPem);
  const issuer = new X509Certificate(issuerPem);
  const anchor = new X509Certificate(await readFile(join(outDir, 'ca.crt'), 'utf8'));
  assert.equal(issuerPem, await readFile(join(caDir, 'issuer.crt'), 'utf8'));
  assert.ok(leaf.verify(issuer.publicKey) && issuer.verify(anchor.publicKey));
  assert.equal(spiffeIdOfSubjectAltName(leaf.subjectAltName), WEB);
  assert.equal(leaf.subjectAltName, `URI:${WEB}, DNS:web.prod.svc, DNS:web`);
  assert.equal(new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime(), 2 * 3_600_000 + 60_000);
  assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(await readFile(join(outDir, 'tls.key'), 'utf8'))));
});

test('re-init refuses to overwrite without --force, and replaces the CA with it', async () => {
  const caDir = freshDir();
  assert.equal((await run('init', '--dir', caDir, '--trust-domain', 'cluster.local')).code, 0);
  const before = await readFile(join(caDir, 'ca.crt'), 'utf8');

  const again = await run('init', '--dir', caDir, '--trust-domain', 'cluster.local');
  assert.equal(again.code, 2);
  assert.match(again.err, /refusing to overwrite/);
  assert.match(again.err, /--force/);
  assert.equal(await readFile(join(caDir, 'ca.crt'), 'utf8'), before, 'untouched');

  // Even one leftover file counts.
  await unlink(join(caDir, 'ca.crt'));
  assert.equal((await run('init', '--dir', caDir, '--trust-domain', 'cluster.local')).code, 2);

  // A key that was world-readable before is 0600 after.
  await chmod(join(caDir, 'issuer.key'), 0o644);
  const forced = await run('init', '--dir', caDir, '--trust-domain', 'example.org', '--force');
  assert.equal(forced.code, 0, forced.err);
  assert.notEqual(await readFile(join(caDir, 'ca.crt'), 'utf8'), before);
  assert.equal(await mode(join(caDir, 'issuer.key')), 0o600);
  assert.equal((await readAuthority(caDir)).trustDomain, 'example.org');
});

test('issue: a bad --name, a foreign trust domain, a bad --ttl and a missing CA exit 2 with a clear message', async () => {
  const caDir = freshDir();
  assert.equal((await run('init', '--dir', caDir, '--trust-domain', 'cluster.local')).code, 0);
  const outDir = freshDir();

  const badName = await run('issue', '--ca', caDir, '--name', 'spiffe://cluster.local/ns/../sa/web', '--out', outDir);
  assert.equal(badName.code, 2);
  assert.match(badName.err, /invalid SPIFFE ID "spiffe:\/\/cluster\.local\/ns\/\.\.\/sa\/web": the path must not contain "\.\." segments/);

  const notSpiffe = await run('issue', '--ca', caDir, '--name', 'web', '--out', outDir);
  assert.equal(notSpiffe.code, 2);
  assert.match(notSpiffe.err, /must start with "spiffe:\/\/"/);

  const foreign = await run('issue', '--ca', caDir, '--name', 'spiffe://example.org/ns/a/sa/b', '--out', outDir);
  assert.equal(foreign.code, 2);
  assert.match(foreign.err, /for trust domain cluster\.local, not example\.org/);

  for (const ttl of ['24', 'soon', '0s', '-1h']) {
    const bad = await run('issue', '--ca', caDir, '--name', WEB, '--out', outDir, `--ttl=${ttl}`);
    assert.equal(bad.code, 2, ttl);
    assert.match(bad.err, /--ttl .* is not a duration with a unit/, ttl);
  }

  const missing = await run('issue', '--ca', freshDir(), '--name', WEB, '--out', outDir);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /ca\.crt is missing; create the CA with: mesh-sidecar identity init/);

  await assert.rejects(readdir(outDir), { code: 'ENOENT' }, 'nothing written on failure');
});

test('readAuthority names the missing file and refuses keys others can read', async () => {
  const caDir = freshDir();
  assert.equal((await run('init', '--dir', caDir, '--trust-domain', 'cluster.local')).code, 0);

  await chmod(join(caDir, 'issuer.key'), 0o640);
  await assert.rejects(readAuthority(caDir), (err) => isMeshError(err, 'INVALID_CONFIG') && /issuer\.key is readable by other users \(mode 0640\); run chmod 600/.test(err.message));
  const refused = await run('issue', '--ca', caDir, '--name', WEB, '--out', freshDir());
  assert.equal(refused.code, 2);
  assert.match(refused.err, /chmod 600/);
  await chmod(join(caDir, 'issuer.key'), 0o600);

  const issuerKey = await readFile(join(caDir, 'issuer.key'), 'utf8');
  await unlink(join(caDir, 'issuer.key'));
  await assert.rejects(readAuthority(caDir), (err) => isMeshError(err, 'INVALID_CONFIG') && err.message.includes(`${join(caDir, 'issuer.key')} is missing`));

  // A key from a different CA is caught here, not in a handshake.
  await writeFile(join(caDir, 'issuer.key'), await readFile(join(caDir, 'ca.key'), 'utf8'), { mode: 0o600 });
  await assert.rejects(readAuthority(caDir), (err) => isMeshError(err, 'INVALID_CONFIG') && /private key does not belong to the issuer/.test(err.message));
  await writeFile(join(caDir, 'issuer.key'), issuerKey, { mode: 0o600 });
  assert.equal((await readAuthority(caDir)).trustDomain, 'cluster.local');
});

test('re-issuing replaces the leaf files and fixes a loosened key mode', async () => {
  const caDir = freshDir();
  const outDir = freshDir();
  assert.equal((await run('init', '--dir', caDir, '--trust-domain', 'cluster.local')).code, 0);
  assert.equal((await run('issue', '--ca', caDir, '--name', WEB, '--out', outDir)).code, 0);
  const first = await readFile(join(outDir, 'tls.crt'), 'utf8');
  await chmod(join(outDir, 'tls.key'), 0o666);
  assert.equal((await run('issue', '--ca', caDir, '--name', WEB, '--out', outDir)).code, 0);
  assert.notEqual(await readFile(join(outDir, 'tls.crt'), 'utf8'), first);
  assert.equal(await mode(join(outDir, 'tls.key')), 0o600);
});

test('issue warns about an issuer near its end, and about a certificate cut short by it', async () => {
  const caDir = freshDir();
  await writeAuthority(caDir, await createAuthority({ trustDomain: 'cluster.local', rootTtlMs: 10 * 24 * 3_600_000 }));
  const soon = await run('issue', '--ca', caDir, '--name', WEB, '--out', freshDir());
  assert.equal(soon.code, 0);
  assert.match(soon.err, /^warning: the issuer in .* expires on .*; rotate it before then/);
  const cut = await run('issue', '--ca', caDir, '--name', WEB, '--out', freshDir(), '--ttl', '300h');
  assert.equal(cut.code, 0);
  assert.match(cut.err, /^warning: the certificate was cut short to end with its issuer/);
});

test('help and usage errors', async () => {
  for (const argv of [['--help'], ['-h'], ['init', '--help'], ['issue', '-h']]) {
    const r = await run(...argv);
    assert.equal(r.code, 0, argv.join(' '));
    assert.match(r.out, /Usage:/);
    assert.equal(r.err, '');
  }
  assert.match((await run('issue', '--help')).out, /--ttl <duration>/);

  const none = await run();
  assert.equal(none.code, 2);
  assert.match(none.err, /Usage:/);

  const unknown = await run('rotate');
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "rotate"/);

  const badFlag = await run('init', '--dir', freshDir(), '--trust-domain', 'td', '--nope');
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.err, /identity init: .*--nope/);
  assert.match(badFlag.err, /identity init --help/);

  const missingFlag = await run('issue', '--ca', 'x', '--out', 'y');
  assert.equal(missingFlag.code, 2);
  assert.match(missingFlag.err, /--name is required/);

  const badDomain = await run('init', '--dir', freshDir(), '--trust-domain', 'Cluster.Local');
  assert.equal(badDomain.code, 2);
  assert.match(badDomain.err, /lower-case/);
});
