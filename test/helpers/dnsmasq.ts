/**
 * A real DNS server for tests: dnsmasq (Debian package dnsmasq-base; .ci/run installs it) serving
 * A records from a hosts file and SRV records from flags, on 127.0.0.1 and a free UDP port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';

export interface SrvRecord {
  name: string;
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface Dnsmasq {
  readonly port: number;
  readonly nameserver: string;
  /** Rewrites the hosts file and makes dnsmasq re-read it (SIGHUP). */
  setHosts(lines: [address: string, name: string][]): Promise<void>;
  /** Restarts dnsmasq on the same port with new SRV records (dnsmasq reads them only at start). */
  restart(srv: SrvRecord[]): Promise<void>;
  stop(): Promise<void>;
}

const BINARY = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => existsSync(p));

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export async function startDnsmasq(hostsFile: string, hosts: [string, string][], srv: SrvRecord[]): Promise<Dnsmasq> {
  if (!BINARY) throw new Error('dnsmasq is not installed: install the Debian package dnsmasq-base (apt-get install dnsmasq-base); .ci/run does this');
  const port = await freeUdpPort();
  const writeHosts = (lines: [string, string][]) => writeFile(hostsFile, lines.map(([a, n]) => `${a} ${n}`).join('\n') + '\n');
  await writeHosts(hosts);
  let child: ChildProcess;
  const launch = async (records: SrvRecord[]) => {
    const args = [
      '--keep-in-foreground',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      `--addn-hosts=${hostsFile}`,
      '--local-ttl=1',
      '--conf-file=/dev/null',
      '--pid-file=',
      `--user=${process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'nobody')}`,
      ...records.map((r) => `--srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 10}`),
    ];
    child = spawn(BINARY!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Ready once it answers on its port; fail with its own words if it exits first.
    await new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const onExit = (code: number | null) => reject(new Error(`dnsmasq exited (${code}): ${stderr.trim()}`));
      child.once('exit', onExit);
      const probe = () => {
        const s = createSocket('udp4');
        // A minimal DNS query for "." type NS; any reply means the server is up.
        const query = Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
        const timer = setTimeout(() => {
          s.close();
          if (Date.now() - started > 5_000) reject(new Error(`dnsmasq did not answer on port ${port}: ${stderr.trim()}`));
          else probe();
        }, 100);
        s.once('message', () => {
          clearTimeout(timer);
          s.close();
          child.off('exit', onExit);
          resolve();
        });
        s.send(query, port, '127.0.0.1');
      };
      probe();
    });
  };
  const kill = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  await launch(srv);
  return {
    port,
    nameserver: `127.0.0.1:${port}`,
    async setHosts(lines) {
      await writeHosts(lines);
      child.kill('SIGHUP');
    },
    async restart(records) {
      await kill();
      await launch(records);
    },
    stop: kill,
  };
}
