/**
 * A real DNS server for tests: dnsmasq (Debian package dnsmasq-base; `npm test` installs it) serving
 * A records from a hosts file and SRV records from flags, on 127.0.0.1 and a free port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { findPeer } from './test-peers.js';

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

/**
 * dnsmasq listens on UDP and TCP alike, so a port only UDP checked as free can be taken by a TCP
 * socket; and ports from the kernel's ephemeral range are handed to outgoing connections of the
 * other tests at any moment. So: a port below that range, free on both.
 */
async function freeDnsPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const udp = createSocket('udp4');
    const udpFree = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    const tcp = createServer();
    const tcpFree = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => (udpFree ? udp.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (tcpFree ? tcp.close(() => resolve()) : resolve()));
    if (udpFree && tcpFree) return port;
  }
}

export async function startDnsmasq(hostsFile: string, hosts: [string, string][], srv: SrvRecord[]): Promise<Dnsmasq> {
  const binary = findPeer('dnsmasq');
  if (!binary) throw new Error('dnsmasq is not installed: install the Debian package dnsmasq-base (`npm run test:peers` does, as root)');
  let port = await freeDnsPort();
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
    child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Ready once it answers on its port; fail with its own words if it exits first. One that does
    // not answer is killed, so a failed start leaves nothing running to keep the tests alive.
    await new Promise<void>((resolve, reject) => {
      const started = Date.now();
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        child.off('exit', onExit);
        if (!error) return resolve();
        child.kill('SIGKILL');
        reject(error);
      };
      const onExit = (code: number | null) => settle(new Error(`dnsmasq exited (${code}): ${stderr.trim()}`));
      child.once('exit', onExit);
      child.once('error', settle);
      const probe = () => {
        if (settled) return;
        const s = createSocket('udp4');
        // A minimal DNS query for "." type NS; any reply means the server is up.
        const query = Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
        const timer = setTimeout(() => {
          s.close();
          if (Date.now() - started > 5_000) settle(new Error(`dnsmasq did not answer on port ${port}: ${stderr.trim()}`));
          else probe();
        }, 100);
        s.once('message', () => {
          clearTimeout(timer);
          s.close();
          settle();
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
  // The port can still be taken between the check and dnsmasq's bind: try another.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch(srv);
      break;
    } catch (error) {
      if (attempt === 5 || !/Address already in use/.test((error as Error).message)) throw error;
      port = await freeDnsPort();
    }
  }
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
