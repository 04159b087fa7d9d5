/**
 * Runs the real mesh-sidecar binary (dist/sidecar-mode/main.js, what `npx mesh-sidecar` runs) as a
 * child process on ephemeral loopback ports, with a config written to a temp dir, and reads the
 * addresses it bound from its "ready" log line.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const SIDECAR_BIN = join(REPO, 'dist/sidecar-mode/main.js');

export interface SidecarProcess {
  readonly child: ChildProcess;
  readonly outbound: string;
  readonly inbound: string | null;
  readonly admin: string;
  readonly configPath: string;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  metrics(): Promise<string>;
  /** Resolves once `count` log lines (so far or to come) match. */
  waitForLogs(match: (entry: Record<string, unknown>) => boolean, count?: number): Promise<void>;
}

export function ensureBuilt(): void {
  if (existsSync(SIDECAR_BIN)) return;
  const result = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm run build failed');
}

/** Runs the binary with arguments and returns its exit code and output (for CLI tests). */
export function runSidecarCli(args: string[], timeoutMs = 15_000): { status: number | null; stdout: string; stderr: string } {
  ensureBuilt();
  const result = spawnSync(process.execPath, [SIDECAR_BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function writeConfig(yaml: string, dir = mkdtempSync(join(tmpdir(), 'meshwork-sidecar-'))): string {
  const path = join(dir, 'mesh.yaml');
  writeFileSync(path, yaml);
  return path;
}

/** `config` replaces the written file as --config (a ConfigMap reference, say); `env` is added to the child's. */
export async function startSidecarProcess(yaml: string, extraArgs: string[] = [], options: { config?: string; env?: NodeJS.ProcessEnv } = {}): Promise<SidecarProcess> {
  ensureBuilt();
  const configPath = writeConfig(yaml);
  const child = spawn(process.execPath, [SIDECAR_BIN, '--config', options.config ?? configPath, '--outbound', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    // Killed when it does not become ready, so a failed start leaves nothing running to keep the tests alive.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mesh-sidecar did not become ready in 15 s; logs: ${JSON.stringify(logs)}`));
    }, 15_000);
    const lines = createInterface({ input: child.stderr! });
    lines.on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { raw: line };
      }
      logs.push(entry);
      for (const check of waiters) check();
      if (entry.msg === 'mesh-sidecar ready') {
        clearTimeout(timer);
        resolve(entry);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mesh-sidecar exited with ${code} before it was ready: ${JSON.stringify(logs)}`));
    });
  });
  const admin = ready.admin as string;
  return {
    child,
    outbound: ready.outbound as string,
    inbound: (ready.inbound as string | null) ?? null,
    admin,
    configPath,
    logs,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited.finally(() => rmSync(dirname(configPath), { recursive: true, force: true }));
    },
    async metrics() {
      const res = await fetch(`http://${admin}/metrics`);
      return res.text();
    },
    waitForLogs(match, count = 1) {
      return new Promise<void>((resolve) => {
        const check = () => {
          if (logs.filter(match).length < count) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** The value of one Prometheus sample whose labels include all of `labels` (summed over the rest). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length).match(/^\{(.*)\}/)?.[1] ?? '';
    const found = Object.fromEntries([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
