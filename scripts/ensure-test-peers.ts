/**
 * The first step of `npm test`: the tests run dnsmasq, curl, python3 and chromium as real peers, and a machine
 * without them used to get suites that failed one by one or hung. Missing peers are installed from
 * Debian when this may (running as root with apt-get, as on CI or in a fresh container, and not
 * told otherwise with MESHWORK_INSTALL_PEERS=0); otherwise it stops at once with the command to run.
 */
import { spawnSync } from 'node:child_process';
import { findPeer, missingPeers, type TestPeer } from '../test/helpers/test-peers.js';

const PREFIX = 'meshwork test peers:';
const OPT_OUT_VARIABLE = 'MESHWORK_INSTALL_PEERS';

const describePeers = (peers: TestPeer[]) =>
  peers.map((p) => (p.command === p.debianPackage ? p.command : `${p.command} (Debian package ${p.debianPackage})`)).join(', ');

const isRoot = process.getuid?.() === 0;

function installCommand(packages: string[]): string {
  const sudo = isRoot ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

function reasonNotToInstall(aptGet: string | undefined): string | undefined {
  const optOut = process.env[OPT_OUT_VARIABLE];
  if (optOut !== undefined && ['0', 'false', 'no'].includes(optOut.toLowerCase())) return `${OPT_OUT_VARIABLE}=${optOut} is set`;
  if (!isRoot) return 'npm test is not running as root';
  if (!aptGet) return 'apt-get is not available here';
  return undefined;
}

function fail(lines: string[]): never {
  console.error(lines.join('\n'));
  process.exit(1);
}

function runAptGet(aptGet: string, args: string[], packages: string[]): void {
  console.log(`+ apt-get ${args.join(' ')}`);
  // No stdin and a non-interactive frontend: CI has no terminal to answer a prompt on.
  const result = spawnSync(aptGet, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status === 0) return;
  const outcome = result.error ? result.error.message : `exit code ${result.status ?? result.signal}`;
  fail([`${PREFIX} apt-get ${args.join(' ')} failed (${outcome}). Install the packages yourself with:`, '', `  ${installCommand(packages)}`]);
}

const missing = missingPeers();
if (missing.length > 0) {
  const packages = missing.map((p) => p.debianPackage);
  const aptGet = findPeer('apt-get');
  const reason = reasonNotToInstall(aptGet);
  if (reason !== undefined || !aptGet) {
    fail([
      `${PREFIX} the tests need programs that are not installed: ${describePeers(missing)}.`,
      `Not installing them because ${reason}. Install them with${aptGet ? '' : ' your package manager; on Debian or Ubuntu'}:`,
      '',
      `  ${installCommand(packages)}`,
      '',
      `then run npm test again${isRoot && aptGet ? ` (without ${OPT_OUT_VARIABLE}=0, npm test installs them itself)` : ''}.`,
    ]);
  }
  console.log(`${PREFIX} installing what is missing: ${describePeers(missing)}`);
  runAptGet(aptGet, ['update', '-qq'], packages);
  runAptGet(aptGet, ['install', '-y', '-qq', '--no-install-recommends', ...packages], packages);
  const stillMissing = missingPeers();
  if (stillMissing.length > 0) {
    fail([`${PREFIX} apt-get installed ${packages.join(' ')}, yet ${stillMissing.map((p) => p.command).join(', ')} cannot be found on PATH (nor in the sbin beside each bin directory on it).`]);
  }
  console.log(`${PREFIX} installed ${packages.join(' ')}`);
}
