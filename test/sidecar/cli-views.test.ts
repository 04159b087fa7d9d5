/**
 * `mesh-sidecar stat|routes|top|tap|check`, run as the built binary against a fixed admin port (a
 * real HTTP server serving a known summary, config and tap stream): every output format is compared
 * with its golden file in test/sidecar/golden/ (MESHWORK_UPDATE_GOLDEN=1 rewrites them), and the exit
 * codes are checked for each way a command can end.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureBuilt, SIDECAR_BIN } from '../helpers/sidecar-process.js';
import { startFakeAdmin, type FakeAdmin } from './golden/admin-fixture.js';
import { createAuthority, issueLeaf } from '../../src/tls/certificate-authority.js';
import { writeLeaf } from '../../src/tls/identity-files.js';

const GOLDEN_DIR = new URL('./golden/', import.meta.url);
const update = process.env.MESHWORK_UPDATE_GOLDEN === '1';

let ending: FakeAdmin;
let open: FakeAdmin;
let warned: FakeAdmin;
const dir = mkdtempSync(join(tmpdir(), 'meshwork-cli-views-'));

before(async () => {
  ensureBuilt();
  [ending, open, warned] = await Promise.all([
    startFakeAdmin({ tap: 'end' }),
    startFakeAdmin({ tap: 'open' }),
    startFakeAdmin({ tap: 'end', pendingRestart: ['app'], configError: 'mesh.yaml:7:5: Mesh "shop" spec.services.words.timeout: expected a duration such as 250ms, 2s or 1m, got "fast"' }),
  ]);
});
after(async () => {
  await Promise.all([ending?.close(), open?.close(), warned?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIDECAR_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Compares with the golden file, addresses replaced by placeholders so the ports do not matter. */
function golden(name: string, output: string, admin: FakeAdmin): void {
  const normalized = output.replaceAll(admin.address, '{{ADMIN}}').replaceAll(admin.outbound, '{{OUTBOUND}}').replaceAll(dir, '{{DIR}}');
  const file = new URL(name, GOLDEN_DIR);
  if (update) writeFileSync(file, normalized);
  assert.equal(normalized, readFileSync(file, 'utf8'), `${name} differs from its golden file (MESHWORK_UPDATE_GOLDEN=1 rewrites it)`);
}

for (const [command, formats] of [
  ['stat', ['table', 'wide', 'json']],
  ['routes', ['table', 'wide', 'json']],
] as const) {
  for (const format of formats) {
    test(`${command} -o ${format}`, async () => {
      const run = await runCli([command, '--admin', ending.address, ...(format === 'table' ? [] : ['-o', format])]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr, '');
      golden(`${command}-${format}.txt`, run.stdout, ending);
    });
  }
}

test('stat and routes narrow to a service by name or direction/name; an unknown one is exit 1 naming what there is', async () => {
  const one = await runCli(['stat', 'words', '--admin', ending.address]);
  assert.equal(one.status, 0);
  assert.deepEqual(one.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]), ['NAME', 'outbound/words']);
  const inbound = await runCli(['routes', '--direction', 'inbound', '--admin', ending.address]);
  assert.deepEqual(inbound.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s{3,}/).slice(0, 2).join(' ')), ['[DEFAULT] inbound/simon']);
  const missing = await runCli(['stat', 'outbound/simon', '--admin', ending.address]);
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, 'mesh-sidecar stat: no service named "outbound/simon"; the sidecar has: inbound/simon, outbound/capitalizer, outbound/ratings, outbound/words\n');
});

for (const format of ['table', 'wide', 'json'] as const) {
  test(`tap -o ${format}: req/rsp/end lines per request until the sidecar ends the stream (exit 1, with its reason)`, async () => {
    const run = await runCli(['tap', '--admin', ending.address, ...(format === 'table' ? [] : ['-o', format])]);
    assert.equal(run.status, 1);
    assert.equal(run.stderr, '# skipped 7 requests over the rate limit and 0 while this end was slow\nmesh-sidecar: the tap ended: tap was turned off in the config\n');
    golden(`tap-${format}.txt`, run.stdout, ending);
  });
}

test('tap --count stops after that many requests with exit 0, and the filters go to the sidecar', async () => {
  const run = await runCli(['tap', '--admin', open.address, '--count', '2', '--authority', 'words', '--path', '/words', '--method', 'GET', '--route', '[DEFAULT]', '--status', '5xx', '--direction', 'outbound', '--max-rps', '5']);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.split('\n').filter((l) => l.startsWith('req ')).length, 2);
  const query = new URLSearchParams(open.tapQueries.at(-1));
  assert.deepEqual(Object.fromEntries(query), { direction: 'outbound', authority: 'words', path: '/words', method: 'GET', route: '[DEFAULT]', status: '5xx', format: 'ndjson', rate: '5' });
});

for (const format of ['table', 'wide', 'json'] as const) {
  test(`top -o ${format}: the busiest paths, printed once at the end when stdout is not a terminal`, async () => {
    const run = await runCli(['top', '--admin', ending.address, ...(format === 'table' ? [] : ['-o', format])]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /the tap ended: tap was turned off in the config\n$/);
    golden(`top-${format}.txt`, run.stdout, ending);
  });
}

test('top --duration ends with exit 0 and keeps --rows', async () => {
  const run = await runCli(['top', '--admin', open.address, '--duration', '300ms', '--rows', '1']);
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 4).join(' ')), ['Source Destination Method Path', '- words GET /words/1']);
});

function writeConfig(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

test('check: √ for what is sound, ‼ for warnings, × with the reason and a hint, and exit 1 when anything failed', async () => {
  writeConfig('empty.json', '[]');
  const config = writeConfig(
    'mesh.yaml',
    `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    words: { endpoints: ["127.0.0.1:9081", "127.0.0.1:9082"] }
    quiet: { discovery: "file:empty.json" }
    lost: { discovery: "file:missing.json" }
`,
  );
  for (const format of ['table', 'json'] as const) {
    const run = await runCli(['check', '--config', config, '--admin', warned.address, ...(format === 'json' ? ['-o', 'json'] : [])]);
    assert.equal(run.status, 1, run.stderr);
    golden(`check-${format}.txt`, run.stdout, warned);
  }
  const healthy = writeConfig('healthy.yaml', `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    words: { endpoints: ["127.0.0.1:9081"] }\n`);
  const ok = await runCli(['check', '--config', healthy, '--admin', ending.address]);
  assert.equal(ok.status, 0, ok.stdout);
  assert.match(ok.stdout, /\nStatus check results are √\n$/);
});

test('check: a config that does not load is × with every problem, --pre skips the running sidecar, and a sidecar that is not there is ×', async () => {
  const broken = writeConfig('broken.yaml', `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    words: { endpoints: ["127.0.0.1:9081"], timeout: fast }\n`);
  const run = await runCli(['check', '--config', broken, '--pre']);
  assert.equal(run.status, 1);
  assert.equal(
    run.stdout.replaceAll(dir, '{{DIR}}'),
    `meshwork-config
---------------
× the config file loads
    {{DIR}}/broken.yaml: invalid config (1 problem); nothing was applied:
      {{DIR}}/broken.yaml:5:54: Mesh service "words" spec.services.words.timeout: expected a duration such as 250ms, 2s or 1m, got "fast"
    hint: fix the lines above; the sidecar refuses to start with this file, and keeps its last good config if it is running

Status check results are ×
`,
  );
  const absent = await runCli(['check', '--admin', '127.0.0.1:1', '--timeout', '2s']);
  assert.equal(absent.status, 1);
  assert.match(absent.stdout, /^meshwork-sidecar\n-+\n× the admin port answers at 127\.0\.0\.1:1\n {4}cannot reach the admin port at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
});

test('check: the identity certificate must chain to the trust anchors and not be near its end', async () => {
  const ca = await createAuthority({ trustDomain: 'cluster.local' });
  const other = await createAuthority({ trustDomain: 'cluster.local' });
  const leaf = await issueLeaf(ca, 'spiffe://cluster.local/ns/default/sa/words', { ttlMs: 3_600_000 });
  const good = await writeLeaf(join(dir, 'good'), leaf, ca.root.certPem);
  const foreign = await writeLeaf(join(dir, 'foreign'), leaf, other.root.certPem);
  const config = (files: { certFile: string; keyFile: string; caFile: string }, warning: string) =>
    writeConfig(
      `identity-${warning}.yaml`,
      `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  identity: { certFile: ${files.certFile}, keyFile: ${files.keyFile}, trustAnchorsFile: ${files.caFile}, expiryWarning: ${warning} }\n  services:\n    words: { endpoints: ["127.0.0.1:9081"] }\n`,
    );
  const sound = await runCli(['check', '--pre', '--config', config(good, '10m')]);
  assert.equal(sound.status, 0, sound.stdout);
  assert.match(sound.stdout, /meshwork-identity\n-+\n√ the certificate, key and trust anchors load \(spiffe:\/\/cluster\.local\/ns\/default\/sa\/words\)\n√ the certificate chains to the trust anchors\n√ the certificate is valid now\n√ the certificate is not near its end \(expires /);
  const expiring = await runCli(['check', '--pre', '--config', config(good, '2h')]);
  assert.equal(expiring.status, 0, 'a warning is not a failure');
  assert.match(expiring.stdout, /‼ the certificate is not near its end\n {4}it expires in (59|60)m, at .*\n {4}hint: renew it: write the new certificate and key to /);
  const wrongAnchors = await runCli(['check', '--pre', '--config', config(foreign, '10m')]);
  assert.equal(wrongAnchors.status, 1);
  assert.match(wrongAnchors.stdout, /× the certificate chains to the trust anchors\n {4}the chain ends at .*, which is not one of the trust anchors/);
});

test('bad flags are exit 2 with one line that names the flag; --help is exit 0', async () => {
  const cases: [string[], RegExp][] = [
    [['stat', '-o', 'yaml'], /^mesh-sidecar stat: -o: expected wide or json, got "yaml"; see mesh-sidecar stat --help\n$/],
    [['tap', '--status', 'teapot'], /^mesh-sidecar tap: --status: expected a status \(503\), a class \(5xx\), error or failure, got "teapot"; see mesh-sidecar tap --help\n$/],
    [['top', '--duration', 'soon'], /^mesh-sidecar top: --duration: expected a duration such as 500ms, 10s or 1m, got "soon"/],
    [['routes', '--admin', 'x'], /^mesh-sidecar routes: --admin: expected host:port/],
    [['check', '-o', 'wide'], /^mesh-sidecar check: -o: expected json, got "wide"/],
    [['stat', '--nope'], /^mesh-sidecar stat: Unknown option '--nope'; see mesh-sidecar stat --help\n$/],
  ];
  for (const [args, expected] of cases) {
    const run = await runCli(args);
    assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, expected);
  }
  for (const command of ['stat', 'routes', 'top', 'tap', 'check']) {
    const help = await runCli([command, '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, new RegExp(`^mesh-sidecar ${command} — `));
  }
  const unreachable = await runCli(['stat', '--admin', '127.0.0.1:1']);
  assert.equal(unreachable.status, 1);
  assert.match(unreachable.stderr, /^mesh-sidecar stat: cannot reach the admin port at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
});
