import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { endpointKey, type EndpointAddress } from '../../src/discovery/endpoint-address.js';
import { FileResolver } from '../../src/discovery/file-resolver.js';

function collect(resolver: FileResolver) {
  const sets: (readonly EndpointAddress[])[] = [];
  const errors: Error[] = [];
  resolver.start({ onEndpoints: (e) => sets.push(e), onError: (e) => errors.push(e) });
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 8_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: sets=${JSON.stringify(sets)} errors=${errors.map((e) => e.message)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const last = () => (sets.at(-1) ?? []).map(endpointKey).sort().join(',');
  return { sets, errors, until, last };
}

test('reads JSON, follows edits and renames over the file, and keeps the last good set on bad content', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-file-'));
  const file = join(dir, 'eps.json');
  await writeFile(file, JSON.stringify(['127.0.0.1:9081', { host: '127.0.0.1', port: 9082 }]));
  const resolver = new FileResolver({ path: file, pollIntervalMs: 200 });
  const seen = collect(resolver);
  try {
    await seen.until('first set', () => seen.sets.length === 1);
    assert.equal(seen.last(), '127.0.0.1:9081,127.0.0.1:9082');

    await writeFile(file, '- 127.0.0.1:9083\n- "[::1]:9084"\n');
    await seen.until('YAML edit', () => seen.last() === '127.0.0.1:9083,[::1]:9084');

    await writeFile(file, 'endpoints:\n  - 127.0.0.1:9085\n  - [oops\n');
    await seen.until('YAML error', () => seen.errors.length === 1);
    assert.match(seen.errors[0]!.message, /eps\.json:\d+:\d+: not valid JSON or YAML: .*keeping the last known endpoints/);

    await writeFile(file, JSON.stringify({ endpoints: ['127.0.0.1:9086', { host: '127.0.0.1', port: 'http' }] }));
    await seen.until('entry error', () => seen.errors.length === 2);
    assert.match(seen.errors[1]!.message, /eps\.json: entry \[1\]\.port: expected a whole number from 1 to 65535, got "http"/);
    assert.equal(seen.last(), '127.0.0.1:9083,[::1]:9084', 'the last good set is still the current one');

    // Weights and labels are carried; a bad one makes a bad file, never one half-applied.
    await writeFile(file, 'endpoints:\n  - { host: 127.0.0.1, port: 9088, weight: 3, labels: { version: v2, zone: eu-1 } }\n  - 127.0.0.1:9089\n');
    await seen.until('weights and labels', () => seen.last() === '127.0.0.1:9088,127.0.0.1:9089');
    assert.deepEqual(seen.sets.at(-1)![0], { host: '127.0.0.1', port: 9088, weight: 3, labels: { version: 'v2', zone: 'eu-1' } });
    await writeFile(file, JSON.stringify(['127.0.0.1:9090', { host: '127.0.0.1', port: 9089, weight: 0 }]));
    await seen.until('weight error', () => seen.errors.length === 3);
    assert.match(seen.errors[2]!.message, /eps\.json: entry \[1\]\.weight: expected a weight above 0 .*, got 0; keeping the last known endpoints/);
    await writeFile(file, 'endpoints:\n  - { host: 127.0.0.1, port: 9090, labels: { version: 2 } }\n');
    await seen.until('labels error', () => seen.errors.length === 4);
    assert.match(seen.errors[3]!.message, /eps\.json: entry \[0\]\.labels\.version: expected a label value as a string \(quote it in YAML: "2"\), got 2; keeping the last known endpoints/);
    assert.equal(seen.last(), '127.0.0.1:9088,127.0.0.1:9089', 'the last good set is still the current one');
    await writeFile(file, 'endpoints:\n  - { host: 127.0.0.1, port: 9088, weight: 3, labels: { version: v3, zone: eu-1 } }\n  - 127.0.0.1:9089\n');
    await seen.until('a label change alone is a new set', () => seen.sets.at(-1)![0]!.labels?.version === 'v3');

    // Editors and ConfigMaps replace the file by renaming a new one over it.
    const temp = join(dir, 'eps.json.tmp');
    await writeFile(temp, JSON.stringify(['127.0.0.1:9087']));
    await rename(temp, file);
    await seen.until('rename over', () => seen.last() === '127.0.0.1:9087');

    await unlink(file);
    await seen.until('missing file error', () => seen.errors.length === 5);
    assert.match(seen.errors[4]!.message, /cannot read endpoint file \(ENOENT\); keeping the last known endpoints/);
    const setsBefore = seen.sets.length;
    await writeFile(file, JSON.stringify(['127.0.0.1:9087']));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(seen.sets.length, setsBefore, 'an unchanged set is not emitted again');
  } finally {
    await resolver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
