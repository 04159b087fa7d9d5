/**
 * `npm run bench`: runs every suite in one process, one after another, and writes
 * benchmarks/RESULTS.md with the machine described. Suites compare meshwork side by side with its
 * baseline in the same run and report ratios, because absolute numbers on a shared 2-core machine
 * mean little. `--quick` shortens every run; `--only <name>` runs one suite.
 */
import { cpus, totalmem } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

interface SuiteResult {
  name: string;
  markdown: string;
}

const SUITES: Record<string, () => Promise<{ run(o: { quick: boolean }): Promise<SuiteResult> }>> = {
  'client-throughput': () => import('./suites/client-throughput.js'),
  'retry-amplification': () => import('./suites/retry-amplification.js'),
  'lb-quality': () => import('./suites/lb-quality.js'),
  'sidecar-proxy': () => import('./suites/sidecar-proxy.js'),
  'mtls-overhead': () => import('./suites/mtls-overhead.js'),
  'grpc-overhead': () => import('./suites/grpc-overhead.js'),
  'kubernetes-discovery': () => import('./suites/kubernetes-discovery.js'),
  'tap-overhead': () => import('./suites/tap-overhead.js'),
  'consistent-hash': () => import('./suites/consistent-hash.js'),
  hedging: () => import('./suites/hedging.js'),
  'adaptive-concurrency': () => import('./suites/adaptive-concurrency.js'),
};

const quick = process.argv.includes('--quick');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
if (only !== undefined && !(only in SUITES)) {
  console.error(`unknown suite "${only}"; suites: ${Object.keys(SUITES).join(', ')}`);
  process.exit(2);
}

const results: SuiteResult[] = [];
for (const [name, load] of Object.entries(SUITES)) {
  if (only !== undefined && name !== only) continue;
  console.error(`running ${name}${quick ? ' (quick)' : ''} ...`);
  const result = await (await load()).run({ quick });
  console.log(`\n${result.markdown}\n`);
  results.push(result);
}

const require = createRequire(import.meta.url);
const undiciVersion = (require('undici/package.json') as { version: string }).version;
const cpu = cpus();
const header = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench${quick ? ' -- --quick' : ''}${only ? ` -- --only ${only}` : ''}\` on ${new Date().toISOString().slice(0, 10)}.`,
  '',
  `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; Node ${process.version}; undici ${undiciVersion}.`,
  'Every comparison ran side by side in the same process and run; ratios are what to read, since absolute',
  'figures move with whatever else the (shared) machine is doing.',
  '',
].join('\n');
if (only === undefined) {
  // Hand-written analysis of the figures (profiles, causes) that a run cannot produce by itself.
  const notes = await readFile(new URL('./profile-notes.md', import.meta.url), 'utf8').catch(() => '');
  // The last full `npm run soak` wrote its own table; it is kept beside the benchmarks.
  const soak = await readFile(new URL('./soak-results.md', import.meta.url), 'utf8').catch(() => '');
  await writeFile(new URL('./RESULTS.md', import.meta.url), `${header}\n${[...results.map((r) => r.markdown), soak.trim()].filter(Boolean).join('\n\n')}\n${notes ? `\n${notes}` : ''}`);
  console.error('wrote benchmarks/RESULTS.md');
} else {
  console.error('(--only: RESULTS.md left as it was)');
}
