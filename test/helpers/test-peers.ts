/**
 * The programs the tests run as real peers, the Debian packages that provide them, and how the
 * tests find them. scripts/ensure-test-peers.ts checks (and installs) them before `npm test` runs a
 * single test, and the helpers find them here by the same rule, so the check and the tests agree.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { basename, delimiter, dirname, isAbsolute, join } from 'node:path';

export interface TestPeer {
  readonly command: string;
  readonly debianPackage: string;
}

export const TEST_PEERS: readonly TestPeer[] = [
  { command: 'dnsmasq', debianPackage: 'dnsmasq-base' },
  { command: 'curl', debianPackage: 'curl' },
  { command: 'python3', debianPackage: 'python3' },
  // The admin dashboard is tested in a real browser, driven headless by playwright-core.
  { command: 'chromium', debianPackage: 'chromium' },
];

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Where `command` is, searching PATH and then the sbin directory beside each bin directory on it:
 * Debian installs dnsmasq in /usr/sbin and leaves the sbin directories off a normal user's PATH.
 */
export function findPeer(command: string, searchPath = process.env.PATH ?? ''): string | undefined {
  const dirs = searchPath.split(delimiter).filter((dir) => isAbsolute(dir));
  const sbinBesideBin = dirs.filter((dir) => basename(dir) === 'bin').map((dir) => join(dirname(dir), 'sbin'));
  for (const dir of [...dirs, ...sbinBesideBin]) {
    const candidate = join(dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

export function missingPeers(searchPath?: string): TestPeer[] {
  return TEST_PEERS.filter((peer) => !findPeer(peer.command, searchPath));
}
