/**
 * The sidecar as an operator meets it: the command line, the admin endpoints, malformed requests
 * refused before they reach anyone, config reloads, and SIGTERM draining under load.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { request } from 'undici';
import { startBackend } from '../helpers/http-backend.js';
import { runSidecarCli, startSidecarProcess, writeConfig } from '../helpers/sidecar-process.js';

const run = promisify(execFile);

const meshYaml = (address: string, extra = '') => `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  services:
    words:
      endpoints: ["${address}"]
${extra}`;

test('--help explains every flag and exits 0; --version prints the version', () => {
  const help = runSidecarCli(['--help']);
  assert.equal(help.status, 0);
  for (const flag of ['--config', '--outbound', '--inbound', '--admin', '--app', '--log-level', '--access-log', '--drain-grace', '--max-header-bytes', '--headers-timeout', '--request-timeout', '--idle-timeout', '--stream-idle-timeout', '--max-connections', '--max-requests-in-flight', '--max-hops']) {
    assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
  }
  const version = runSidecarCli(['--version']);
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('bad flags and bad configs exit 2 with a reason that names the problem', () => {
  const unknown = runSidecarCli(['--config', 'x.yaml', '--outbund', '1']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^mesh-sidecar: .*--outbund/);
  assert.equal(unknown.stderr.trim().split('\n').length, 1);

  const missing = runSidecarCli([]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--config <file> is required/);

  const badPort = runSidecarCli(['--config', 'x.yaml', '--outbound', '127.0.0.1:99999']);
  assert.equal(badPort.status, 2);
  assert.match(badPort.stderr, /--outbound: port 99999 is out of range/);

  const path = writeConfig('apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  sidecar:\n    outbound: nowhere\n  services:\n    words:\n      endpoints: ["127.0.0.1:1"]\n      timeout: soon\n');
  const badConfig = runSidecarCli(['--config', path]);
  rmSync(dirname(path), { recursive: true, force: true });
  assert.equal(badConfig.status, 2);
  assert.match(badConfig.stderr, /mesh\.yaml:5:15: Mesh 1 spec\.sidecar\.outbound: expected host:port/);
  assert.match(badConfig.stderr, /mesh\.yaml:9:16: Mesh service "words" spec\.services\.words\.timeout: expected a duration/);

  // A single problem is a single line.
  const onePath = writeConfig('apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    words:\n      endpoints: ["127.0.0.1:1"]\n      timeout: soon\n');
  const oneProblem = runSidecarCli(['--config', onePath]);
  rmSync(dirname(onePath), { recursive: true, force: true });
  assert.equal(oneProblem.status, 2);
  assert.match(oneProblem.stderr, /^mesh-sidecar: \S*mesh\.yaml:7:16: Mesh service "words" spec\.services\.words\.timeout: expected a duration[^\n]*\n$/);

  const badTimeout = runSidecarCli(['--config', 'x.yaml', '--headers-timeout', 'soon']);
  assert.equal(badTimeout.status, 2);
  assert.match(badTimeout.stderr, /--headers-timeout: expected a duration such as 500ms, 30s or 5m, got "soon"/);
  const badCount = runSidecarCli(['--config', 'x.yaml', '--max-connections', '0']);
  assert.equal(badCount.status, 2);
  assert.match(badCount.stderr, /--max-connections: expected a whole number of at least 1, got "0"/);
  const limitsPath = writeConfig('apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  sidecar:\n    idleTimeout: off\n    maxHops: 0\n  services:\n    words:\n      endpoints: ["127.0.0.1:1"]\n');
  const badLimits = runSidecarCli(['--config', limitsPath]);
  rmSync(dirname(limitsPath), { recursive: true, force: true });
  assert.equal(badLimits.status, 2);
  assert.match(badLimits.stderr, /mesh\.yaml:5:18: Mesh 1 spec\.sidecar\.idleTimeout: expected a duration/);
  assert.match(badLimits.stderr, /mesh\.yaml:6:14: Mesh 1 spec\.sidecar\.maxHops: expected a whole number of at least 1/);

  const absent = runSidecarCli(['--config', '/nonexistent/mesh.yaml']);
  assert.equal(absent.status, 2);
  assert.match(absent.stderr, /^mesh-sidecar: \/nonexistent\/mesh\.yaml: cannot read the config file \(ENOENT\)\n$/);
});

test('a port already in use is a one-line error and exit 2', async () => {
  const backend = await startBackend('busy');
  try {
    const path = writeConfig(meshYaml(backend.address));
    const result = runSidecarCli(['--config', path, '--outbound', backend.address, '--admin', 'none']);
    rmSync(dirname(path), { recursive: true, force: true });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /already in use/);
  } finally {
    await backend.stop();
  }
});

test('admin: /live, /ready and /config (with secret-looking fields redacted); it listens on loopback', async () => {
  const backend = await startBackend('words');
  const sidecar = await startSidecarProcess(
    meshYaml(
      backend.address,
      `      routes:
        - name: admin-only
          condition: { method: GET, pathRegex: /admin, headers: { authorization: "Bearer s3cr3t" } }
`,
    ),
  );
  try {
    assert.match(sidecar.admin, /^127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`http://${sidecar.admin}/live`)).status, 200);
    assert.equal((await fetch(`http://${sidecar.admin}/ready`)).status, 200);
    const config = (await (await fetch(`http://${sidecar.admin}/config`)).json()) as { sidecar: { outbound: string }; services: Record<string, unknown> };
    assert.equal(config.sidecar.outbound, sidecar.outbound);
    assert.ok(config.services.words);
    const text = JSON.stringify(config);
    assert.ok(!text.includes('s3cr3t'), 'the bearer token is not shown');
    assert.ok(text.includes('(redacted)'));
    assert.equal((await fetch(`http://${sidecar.admin}/nope`)).status, 404);
  } finally {
    await sidecar.stop();
    await backend.stop();
  }
});

/** Writes raw bytes to the outbound port and returns what came back before the connection closed. */
function rawExchange(address: string, bytes: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => socket.write(bytes));
    let reply = '';
    socket.on('data', (c: Buffer) => (reply += c.toString('latin1')));
    socket.on('end', () => resolve(reply));
    socket.on('close', () => resolve(reply));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy());
  });
}

test('malformed HTTP gets a 4xx and never reaches the service', async () => {
  const backend = await startBackend('words');
  const sidecar = await startSidecarProcess(meshYaml(backend.address));
  try {
    const conflicting = await rawExchange(sidecar.outbound, 'POST /x HTTP/1.1\r\nHost: words\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    assert.match(conflicting, /^HTTP\/1.1 400 /);
    const badChunk = await rawExchange(sidecar.outbound, 'POST /x HTTP/1.1\r\nHost: words\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n');
    assert.match(badChunk, /^HTTP\/1.1 400 /);
    const huge = await rawExchange(sidecar.outbound, `GET /x HTTP/1.1\r\nHost: words\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1.1 431 /);
    const garbage = await rawExchange(sidecar.outbound, 'HELLO\r\n\r\n');
    assert.match(garbage, /^HTTP\/1.1 400 /);
    assert.equal(backend.hits, 0);
    // The sidecar is still serving.
    const ok = await request(`http://${sidecar.outbound}/after`, { headers: { host: 'words' } });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    assert.ok(sidecar.logs.some((l) => l.reason === 'header_too_large' && l.status === 431));
  } finally {
    await sidecar.stop();
    await backend.stop();
  }
});

test('a config change applies while running; a bad one keeps the last good config', async () => {
  const first = await startBackend('first');
  const second = await startBackend('second');
  const sidecar = await startSidecarProcess(meshYaml(first.address));
  const hit = async () => {
    const res = await request(`http://${sidecar.outbound}/`, { headers: { host: 'words' } });
    return ((await res.body.json()) as { backend: string }).backend;
  };
  try {
    assert.equal(await hit(), 'first');
    writeFileSync(sidecar.configPath, meshYaml(second.address));
    for (let i = 0; i < 100 && (await hit()) !== 'second'; i++) await sleep(50);
    assert.equal(await hit(), 'second');
    writeFileSync(sidecar.configPath, 'apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  services:\n    words:\n      endpoint: oops\n');
    let config: { configError: string | null } = { configError: null };
    for (let i = 0; i < 100 && !config.configError; i++) {
      await sleep(50);
      config = (await (await fetch(`http://${sidecar.admin}/config`)).json()) as typeof config;
    }
    assert.match(config.configError ?? '', /endpoint/);
    assert.equal(await hit(), 'second');
  } finally {
    await sidecar.stop();
    await Promise.all([first.stop(), second.stop()]);
  }
});

test('SIGTERM under load: requests in flight all complete, new connections are refused, exit 0', async () => {
  const backend = await startBackend('slow', { delayMs: 400 });
  const sidecar = await startSidecarProcess(meshYaml(backend.address), ['--drain-grace', '5s']);
  try {
    const inFlight = Array.from({ length: 30 }, (_, i) =>
      run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: words', `http://${sidecar.outbound}/slow${i}`], { encoding: 'utf8' }).then((r) => r.stdout),
    );
    // Wait until the backend has every request (it counts on arrival and answers 400 ms later), so
    // they are truly in flight when the signal lands.
    for (let i = 0; i < 100 && backend.hits < 30; i++) await sleep(20);
    assert.equal(backend.hits, 30);
    const exitCode = sidecar.stop('SIGTERM');
    await sleep(100);
    const ready = await fetch(`http://${sidecar.admin}/ready`).then((r) => r.status, () => 'closed');
    assert.ok(ready === 503 || ready === 'closed', `/ready during drain: ${ready}`);
    const refused = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: words', `http://${sidecar.outbound}/late`], { encoding: 'utf8' }).then(
      (r) => r.stdout,
      () => 'refused',
    );
    assert.equal(refused, 'refused');
    const statuses = await Promise.all(inFlight);
    assert.deepEqual(statuses, Array.from({ length: 30 }, () => '200'));
    assert.equal(await exitCode, 0);
    assert.ok(sidecar.logs.some((l) => l.msg === 'drained; exiting'));
  } finally {
    await sidecar.stop();
    await backend.stop();
  }
});

