/**
 * The proxies the sidecar is compared with, each started as a foreground child process from a
 * config generated into a temp dir, all forwarding to the same backend with keep-alive upstream
 * connections and one worker, so that the single-threaded sidecar is compared like for like.
 *
 * Every child is registered in a `Children` set that can kill them all (and whatever they forked:
 * nginx's worker outlives a SIGKILLed master) even when a benchmark throws half-way.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { processTree } from './proc-stats.js';

export interface Target {
  /** Row label in the report. */
  label: string;
  port: number;
  /** Root of the process tree whose CPU and memory are charged to this proxy. */
  pid: number;
}

/* ------------------------------------------------------------------ tools */

type Tool = 'nginx' | 'haproxy' | 'wrk';
const PACKAGE: Record<Tool, string> = { nginx: 'nginx-light', haproxy: 'haproxy', wrk: 'wrk' };

function findBinary(name: string): string | undefined {
  // nginx and haproxy live in /usr/sbin, which a non-root PATH often lacks.
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export interface Tools {
  paths: Partial<Record<Tool, string>>;
  /** What was installed or is missing, for the report. */
  notes: string[];
}

/**
 * Finds nginx, haproxy and wrk; as root, installs whichever are missing from Debian. Otherwise the
 * missing ones are named with the exact command, and the caller skips what needs them.
 */
export function ensureTools(): Tools {
  const notes: string[] = [];
  const find = () => Object.fromEntries((Object.keys(PACKAGE) as Tool[]).map((t) => [t, findBinary(t)])) as Partial<Record<Tool, string>>;
  let paths = find();
  let missing = (Object.keys(PACKAGE) as Tool[]).filter((t) => paths[t] === undefined);
  if (missing.length === 0) return { paths, notes };
  const packages = missing.map((t) => PACKAGE[t]);
  if (process.getuid?.() === 0) {
    // apt's progress goes to our stderr: stdout carries the report when run from run.ts.
    const apt = (args: string[]) =>
      spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
    console.error(`sidecar-proxy: installing ${packages.join(' ')} ...`);
    // A fresh container has no package lists; update only when the plain install fails.
    if (!apt(['install', '-y', ...packages])) {
      apt(['update']);
      apt(['install', '-y', ...packages]);
    }
    paths = find();
    const installed = missing.filter((t) => paths[t] !== undefined);
    if (installed.length > 0) notes.push(`Installed for this run: \`apt-get install -y ${installed.map((t) => PACKAGE[t]).join(' ')}\`.`);
    missing = missing.filter((t) => paths[t] === undefined);
  }
  for (const t of missing) {
    const what = t === 'wrk' ? 'the whole suite (wrk drives every row)' : `the ${t} baseline`;
    notes.push(`**${t} not found**: install it with \`sudo apt-get install -y ${PACKAGE[t]}\`; skipped ${what}.`);
  }
  return { paths, notes };
}

/* --------------------------------------------------------------- children */

interface Managed {
  label: string;
  child: ChildProcess;
  /** Last lines of its output, quoted when it fails to start. */
  tail: string[];
  exited: boolean;
}

export class Children {
  private readonly all: Managed[] = [];
  private readonly onExit = () => this.killAllNow();

  constructor() {
    // If the benchmark process dies with children still running, do not leave them behind.
    process.once('exit', this.onExit);
  }

  spawn(label: string, command: string, args: string[], onLine?: (line: string) => void): Managed {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const managed: Managed = { label, child, tail: [], exited: false };
    child.once('exit', () => (managed.exited = true));
    child.once('error', (err) => {
      managed.exited = true;
      managed.tail.push(String(err));
    });
    // Read both pipes to the end: a proxy that blocks writing logs to a full pipe would skew results.
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        managed.tail.push(line);
        if (managed.tail.length > 20) managed.tail.shift();
        onLine?.(line);
      });
    }
    this.all.push(managed);
    return managed;
  }

  /** SIGTERM, a grace period, then SIGKILL for anything in the tree still alive. */
  async stop(managed: Managed, graceMs = 3_000): Promise<void> {
    const pid = managed.child.pid;
    if (pid === undefined || managed.exited) return;
    const tree = processTree(pid);
    managed.child.kill('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (!managed.exited && Date.now() < deadline) await sleep(50);
    for (const p of tree) killQuietly(p, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((m) => this.stop(m)));
    process.removeListener('exit', this.onExit);
  }

  private killAllNow(): void {
    for (const m of this.all) {
      if (m.exited || m.child.pid === undefined) continue;
      for (const p of processTree(m.child.pid)) killQuietly(p, 'SIGKILL');
    }
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port nobody listens on now, for the proxies that cannot report an ephemeral one back. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function waitForPort(managed: Managed, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (managed.exited) break;
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`${managed.label} did not start listening on ${port}${managed.exited ? ' (it exited)' : ''}:\n${managed.tail.join('\n')}`);
}

/* ---------------------------------------------------------------- proxies */

export async function startNginx(children: Children, nginx: string, dir: string, backendPort: number): Promise<Target> {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  // Every path nginx writes is in the temp dir, so it runs without root and leaves nothing behind.
  const temp = (name: string) => `${name} ${join(dir, `nginx-${name}`)};`;
  await writeFile(
    conf,
    [
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'nginx-error.log')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      `  ${temp('client_body_temp_path')} ${temp('proxy_temp_path')} ${temp('fastcgi_temp_path')} ${temp('uwsgi_temp_path')} ${temp('scgi_temp_path')}`,
      // Idle keep-alive connections to the backend; without them nginx opens one per request.
      `  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; }`,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location / {',
      '      proxy_pass http://backend;',
      // Both are needed for upstream keep-alive: HTTP/1.0 and "Connection: close" are nginx's defaults.
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  // -e: the default error log (/var/log/nginx) is opened before the config is read.
  const managed = children.spawn('nginx', nginx, ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', conf, '-g', 'daemon off;']);
  await waitForPort(managed, port);
  return { label: 'nginx', port, pid: managed.child.pid! };
}

export async function startHaproxy(children: Children, haproxy: string, dir: string, backendPort: number): Promise<Target> {
  const port = await freePort();
  const conf = join(dir, 'haproxy.cfg');
  await writeFile(
    conf,
    [
      'global',
      '  nbthread 1',
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      // Share idle server connections between client connections, as nginx's upstream keepalive does.
      '  http-reuse always',
      'frontend bench',
      `  bind 127.0.0.1:${port}`,
      '  default_backend backend',
      'backend backend',
      `  server b1 127.0.0.1:${backendPort}`,
      '',
    ].join('\n'),
  );
  const managed = children.spawn('haproxy', haproxy, ['-f', conf, '-db']);
  await waitForPort(managed, port);
  return { label: 'HAProxy', port, pid: managed.child.pid! };
}

/**
 * node-http-proxy runs as plain JavaScript under plain `node`, like the sidecar: starting it through
 * the tsx loader would add a loader thread's memory to its RSS. The script is generated, like the
 * nginx and HAProxy configs, and loads http-proxy from this project's node_modules by absolute path.
 */
export async function startNodeHttpProxy(children: Children, dir: string, backendPort: number): Promise<Target> {
  const httpProxy = createRequire(import.meta.url).resolve('http-proxy');
  const script = join(dir, 'node-http-proxy.cjs');
  await writeFile(
    script,
    [
      "'use strict';",
      "const http = require('node:http');",
      `const httpProxy = require(${JSON.stringify(httpProxy)});`,
      // Without an agent http-proxy sends "Connection: close" upstream: one TCP connection per request.
      'const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });',
      `const proxy = httpProxy.createProxyServer({ target: 'http://127.0.0.1:${backendPort}', agent });`,
      "proxy.on('error', (err, req, res) => { if (!res.headersSent) res.writeHead(502); res.end(); });",
      'const server = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => proxy.web(req, res));',
      "server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));",
      '',
    ].join('\n'),
  );
  let resolvePort: (port: number) => void = () => {};
  const portLine = new Promise<number>((resolve) => (resolvePort = resolve));
  const managed = children.spawn('node-http-proxy', process.execPath, [script], (line) => {
    if (line.startsWith('{"port"')) resolvePort((JSON.parse(line) as { port: number }).port);
  });
  const port = await whenReady(managed, portLine, 10_000);
  return { label: 'node-http-proxy', port, pid: managed.child.pid! };
}

const BARE_PROXY = fileURLToPath(new URL('../floors/bare-proxy.mjs', import.meta.url));

/** The floor: a bare Node proxy on undici's `Pool.dispatch` or `Pool.request` (benchmarks/floors/bare-proxy.mjs). */
export async function startBareProxy(children: Children, backendPort: number, mode: 'dispatch' | 'request'): Promise<Target> {
  const label = `bare Node proxy (Pool.${mode})`;
  let resolvePort: (port: number) => void = () => {};
  const portLine = new Promise<number>((resolve) => (resolvePort = resolve));
  const managed = children.spawn(label, process.execPath, [BARE_PROXY, mode, String(backendPort)], (line) => {
    if (line.startsWith('{"port"')) resolvePort((JSON.parse(line) as { port: number }).port);
  });
  const port = await whenReady(managed, portLine, 10_000);
  return { label, port, pid: managed.child.pid! };
}

export const SIDECAR_MAIN = fileURLToPath(new URL('../../dist/sidecar-mode/main.js', import.meta.url));

/**
 * The sidecar with one service, `service`, whose only endpoint is the backend. Its outbound port is
 * read from the ready line it writes on stderr.
 */
export async function startSidecar(children: Children, dir: string, backendPort: number, service: string): Promise<Target> {
  const config = join(dir, 'mesh.yaml');
  await writeFile(
    config,
    ['apiVersion: meshwork.dev/v1alpha1', 'kind: Mesh', 'spec:', '  services:', `    ${service}:`, `      endpoints: ["127.0.0.1:${backendPort}"]`, ''].join('\n'),
  );
  let resolvePort: (port: number) => void = () => {};
  const ready = new Promise<number>((resolve) => (resolvePort = resolve));
  const managed = children.spawn(
    'mesh-sidecar',
    process.execPath,
    [SIDECAR_MAIN, '--config', config, '--outbound', '127.0.0.1:0', '--inbound', 'none', '--admin', '127.0.0.1:0'],
    (line) => {
      if (!line.includes('mesh-sidecar ready')) return;
      try {
        const outbound = (JSON.parse(line) as { outbound?: string }).outbound;
        const port = Number(outbound?.slice(outbound.lastIndexOf(':') + 1));
        if (port > 0) resolvePort(port);
      } catch {
        // not the JSON ready line after all
      }
    },
  );
  const port = await whenReady(managed, ready, 15_000);
  return { label: 'mesh-sidecar', port, pid: managed.child.pid! };
}

/** Waits for `ready`; fails with the child's last output if it exits or takes longer than `ms`. */
async function whenReady<T>(managed: Managed, ready: Promise<T>, ms: number): Promise<T> {
  let result: { value: T } | undefined;
  void ready.then((value) => (result = { value }));
  const deadline = Date.now() + ms;
  while (result === undefined && !managed.exited && Date.now() < deadline) await sleep(20);
  if (result !== undefined) return result.value;
  // Give the pipes a moment to deliver the last lines, which usually say why.
  await sleep(100);
  const why = managed.tail.join('\n').trim() || '(no output)';
  throw new Error(`${managed.label} ${managed.exited ? `exited (${managed.child.exitCode ?? managed.child.signalCode})` : 'did not become ready'}: ${why}`);
}
