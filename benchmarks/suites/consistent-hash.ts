/**
 * Consistent hashing: how many keys change endpoint when one of ten endpoints goes (and when it comes
 * back, and when an eleventh is added), for the ring-hash and Maglev pickers, against the naive
 * `hash mod n` a hand-rolled affinity would use. The least any scheme can move is the share of keys
 * the leaving endpoint held, a tenth; `mod n` moves about nine tenths. Also: how evenly the keys are
 * spread (the busiest endpoint's keys over the mean), and a pick's cost next to `mod n`'s.
 */
import { performance } from 'node:perf_hooks';
import { hashString } from '../../src/balancer/hash-string.js';
import { maglevPicker } from '../../src/balancer/maglev-picker.js';
import type { Pickable, Picker } from '../../src/balancer/picker.js';
import { ringHashPicker } from '../../src/balancer/ring-hash-picker.js';
import { seededRandom } from '../../src/core/clock.js';
import type { SuiteResult } from './retry-amplification.js';

const ENDPOINTS = 10;

const moduloPicker: Picker = { pick: (candidates, _cost, hash) => candidates[(hash ?? 0) % candidates.length]! };

const endpoints = (n: number): Pickable[] => Array.from({ length: n }, (_, i) => ({ key: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}:8080`, weight: 1 }));

function owners(picker: Picker, list: readonly Pickable[], hashes: Uint32Array): string[] {
  const out = new Array<string>(hashes.length);
  for (let i = 0; i < hashes.length; i++) out[i] = picker.pick(list, () => 0, hashes[i]!).key;
  return out;
}

function imbalance(owned: string[]): number {
  const counts = new Map<string, number>();
  for (const o of owned) counts.set(o, (counts.get(o) ?? 0) + 1);
  return Math.max(...counts.values()) / (owned.length / counts.size);
}

function nsPerPick(picker: Picker, list: readonly Pickable[], hashes: Uint32Array, rounds: number): number {
  let sink = 0;
  const started = performance.now();
  for (let r = 0; r < rounds; r++) for (let i = 0; i < hashes.length; i++) sink += picker.pick(list, () => 0, hashes[i]!).weight;
  const elapsed = performance.now() - started;
  if (sink < 0) console.error(sink);
  return (elapsed * 1e6) / (rounds * hashes.length);
}

export async function run(options: { quick: boolean }): Promise<SuiteResult> {
  const keyCount = options.quick ? 20_000 : 100_000;
  const hashes = Uint32Array.from({ length: keyCount }, (_, i) => hashString(`session-${i}`));
  const ten = endpoints(ENDPOINTS);
  const withoutOne = ten.filter((_, i) => i !== 3);
  const eleven = endpoints(ENDPOINTS + 1);
  const pickers: [string, () => Picker][] = [
    ['hash mod n (baseline)', () => moduloPicker],
    ['ring-hash (1024 points per endpoint)', () => ringHashPicker(seededRandom(1))],
    ['maglev (table 65537)', () => maglevPicker(seededRandom(1))],
  ];
  const rows: string[] = [];
  let moduloNs = 0;
  for (const [label, make] of pickers) {
    const picker = make();
    const before = owners(picker, ten, hashes);
    const removed = owners(picker, withoutOne, hashes);
    const back = owners(picker, ten.map((e) => ({ ...e })), hashes);
    const added = owners(picker, eleven, hashes);
    const goneKey = ten[3]!.key;
    const share = (a: string[], b: string[], excused: (i: number) => boolean) => {
      let moved = 0;
      let others = 0;
      for (let i = 0; i < a.length; i++) {
        if (a[i] === b[i]) continue;
        moved++;
        if (!excused(i)) others++;
      }
      return { moved: moved / a.length, others: others / a.length };
    };
    const remove = share(before, removed, (i) => before[i] === goneKey);
    const restore = share(removed, back, (i) => back[i] === goneKey);
    const grow = share(before, added, (i) => added[i] === eleven[ENDPOINTS]!.key);
    const ns = nsPerPick(picker, ten, hashes, options.quick ? 3 : 10);
    if (moduloNs === 0) moduloNs = ns;
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    rows.push(
      `| ${label} | ${pct(remove.moved)} (${pct(remove.others)}) | ${pct(restore.moved)} (${pct(restore.others)}) | ${pct(grow.moved)} (${pct(grow.others)}) | ${imbalance(before).toFixed(3)} | ${ns.toFixed(0)} ns (${(ns / moduloNs).toFixed(1)}×) |`,
    );
    if (back.some((o, i) => o !== before[i]) && label !== pickers[0]![0]) rows.push(`| (${label}: keys did not all return to their endpoint when it came back) | | | | | |`);
  }
  const markdown = [
    '### Consistent hashing: keys that move when the endpoint set changes',
    '',
    `${keyCount.toLocaleString('en')} keys (\`session-<n>\`) over ${ENDPOINTS} endpoints of equal weight, mapped by each picker; then one endpoint goes, comes back, and an eleventh is added.`,
    'Each change cell is the share of all keys that changed endpoint, and in brackets the share that moved although neither their old',
    'nor their new endpoint was the one that left or arrived (zero is ideal: the least a change can move is the leaving endpoint\'s tenth,',
    'or the newcomer\'s eleventh). Spread: the busiest endpoint\'s keys over the mean (1 is perfect). Pick: one lookup, after the ring or',
    'table is built, next to `hash mod n` (single-threaded, in this process; read the ratio).',
    '',
    '| picker | one of 10 goes | it comes back | an 11th is added | spread (max/mean) | pick |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
  return { name: 'consistent-hash', markdown };
}
