/**
 * The dashboard in a real browser: Debian's chromium, headless, opens a real mesh-sidecar's admin
 * port while traffic flows through the sidecar, and the page must show what the sidecar sees —
 * per-service success rate and RPS, the routes, an ejected endpoint with its time left, the
 * topology, and a live tap filtered from the page's form — loading nothing from any other origin
 * and never showing a credential.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { Agent, request } from 'undici';
import { startBackend, type TestBackend } from '../helpers/http-backend.js';
import { launchChromium } from '../helpers/headless-chromium.js';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

const SECRET = 'Bearer dashboard-sekrit';

/** The page's elements matching a selector, inside functions that run in the page (tests have no DOM types). */
declare function page$(selector: string): { textContent: string | null }[];
// Functions given to waitForFunction run in the page, where this is defined first (addInitScript).
const PAGE_HELPERS = 'globalThis.page$ = (selector) => [...document.querySelectorAll(selector)];';
let browser: Browser;
let words: TestBackend;
let dead: TestBackend;
let sidecar: SidecarProcess;
const agent = new Agent();
let traffic: Promise<void> | undefined;
let stopTraffic = false;
/** Where to keep screenshots of the page, to look at (MESHWORK_SCREENSHOTS=<dir>); none by default. */
const screenshots = process.env.MESHWORK_SCREENSHOTS;

before(async () => {
  browser = await launchChromium();
  words = await startBackend('words');
  dead = await startBackend('dead');
  await dead.stop();
  sidecar = await startSidecarProcess(`apiVersion: meshwork.dev/v1alpha1
kind: Mesh
spec:
  admin: { tap: true }
  services:
    words:
      endpoints: ["${words.address}", "${dead.address}"]
      balancer: round-robin
      outlierDetection: { consecutiveFailures: 1, baseEjectionTime: 5m }
      circuitBreaker: false
      routes:
        - { name: "GET /words/{id}", condition: { method: GET, pathRegex: "/words/[^/]+" } }
`);
  // Steady traffic through the sidecar's outbound port until the tests are done.
  traffic = (async () => {
    for (let i = 0; !stopTraffic && i < 20_000; i++) {
      const path = i % 4 === 3 ? `/other/${i}` : `/words/${i}`;
      const res = await request(`http://${sidecar.outbound}${path}`, { dispatcher: agent, headers: { host: 'words', authorization: SECRET, cookie: 'session=dashboard-sekrit' } });
      await res.body.dump();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
});

after(async () => {
  stopTraffic = true;
  await traffic?.catch(() => undefined);
  await browser?.close();
  await sidecar?.stop();
  await words?.stop();
  await agent.close();
});

test('the dashboard shows live success rate, RPS and latency per service, the routes, an ejected endpoint and the topology, from its own origin only', async () => {
  const page = await browser.newPage();
  await page.addInitScript(PAGE_HELPERS);
  const origins = new Set<string>();
  page.on('request', (req) => origins.add(new URL(req.url()).origin));
  const consoleErrors: string[] = [];
  page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  const response = await page.goto(`http://${sidecar.admin}/`);
  assert.equal(response?.status(), 200);
  assert.match(response!.headers()['content-security-policy'] ?? '', /default-src 'none'; script-src 'self'/);

  await page.locator('#status.live').waitFor();
  const row = page.locator('tr[data-service="outbound/words"]');
  await row.waitFor();
  // The page updates every second; wait until traffic has been counted.
  await page.waitForFunction(() => Number(page$('tr[data-service="outbound/words"] td.rps .value')[0]?.textContent) > 0);
  assert.match((await row.locator('td.success .value').textContent()) ?? '', /^\d+\.\d\d%$/);
  assert.match((await row.locator('td.p50').textContent()) ?? '', /^[\d.]+ ms$/);
  assert.equal(await row.locator('td.breaker').textContent(), '-', 'circuitBreaker: false');
  assert.match((await row.locator('td.budget').textContent()) ?? '', /^\d+ left$/);
  assert.ok((await row.locator('td.rps svg.spark polyline').count()) === 1, 'a sparkline per figure');

  await row.click();
  await page.locator('#detail-title', { hasText: 'outbound/words' }).waitFor();
  await page.locator('#routes tr[data-route="GET /words/{id}"]').waitFor();
  await page.locator('#routes tr[data-route="default"] td.name', { hasText: '[DEFAULT]' }).waitFor();
  const ejected = page.locator(`#endpoints tr[data-endpoint="${dead.address}"] td.state`);
  await ejected.filter({ hasText: /^ejected, \d+ s left$/ }).waitFor();
  assert.equal(await page.locator(`#endpoints tr[data-endpoint="${words.address}"] td.state`).textContent(), 'in rotation');

  await page.locator('#topology g.edge[data-to="words"]').waitFor();
  assert.match((await page.locator('#topology g.edge[data-to="words"] text').textContent()) ?? '', /^[\d.]+ rps · \d+\.\d\d%$/);

  if (screenshots) await page.screenshot({ path: join(screenshots, 'dashboard.png'), fullPage: true });
  assert.deepEqual([...origins], [`http://${sidecar.admin}`], 'the page loads nothing from elsewhere');
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('the tap pane streams the requests its filters select, as they complete, and never shows a credential', async () => {
  const page = await browser.newPage();
  await page.addInitScript(PAGE_HELPERS);
  await page.goto(`http://${sidecar.admin}/`);
  await page.locator('#status.live').waitFor();
  await page.locator('#tap-start:not([disabled])').waitFor();
  await page.fill('#tap-form input[name="path"]', '/other/');
  await page.click('#tap-start');
  await page.waitForFunction(() => page$('#tap-events tbody tr').length >= 3);
  const paths = await page.locator('#tap-events tbody td.path').allTextContents();
  assert.ok(paths.length >= 3);
  for (const path of paths) assert.match(path, /^\/other\/\d+$/, 'only what the filter selects');
  assert.equal(await page.locator('#tap-events tbody tr').first().locator('td.authority').textContent(), 'words');
  assert.equal(await page.locator('#tap-events tbody tr').first().locator('td.route').textContent(), '[DEFAULT]');
  assert.ok(!(await page.content()).includes('sekrit'), 'authorization and cookie values never reach the page');
  await page.click('#tap-stop');
  assert.equal(await page.locator('#tap-start').isDisabled(), false);
  if (screenshots) await page.screenshot({ path: join(screenshots, 'tap.png'), fullPage: true });
  await page.close();
});
