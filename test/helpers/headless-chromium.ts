/**
 * Debian's chromium, driven headless by playwright-core (which downloads no browser of its own), with
 * the flags this machine needs: no sandbox as root, and none of Chromium's own network traffic
 * (updates, sync, background fetches), which a closed network would refuse or stall on. playwright's
 * launch() gives each browser a fresh temporary profile.
 */
import { chromium, type Browser } from 'playwright-core';
import { findPeer } from './test-peers.js';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchChromium(): Promise<Browser> {
  const executablePath = findPeer('chromium');
  if (executablePath === undefined) {
    throw new Error('chromium is not installed, and the dashboard is tested in it: apt-get update && apt-get install -y --no-install-recommends chromium (npm test installs it itself when run as root)');
  }
  return chromium.launch({ executablePath, headless: true, args: FLAGS, timeout: 30_000 });
}
