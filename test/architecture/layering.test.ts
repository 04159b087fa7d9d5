/**
 * The layout shows the request path: every folder of src/ imports only from the folders below it,
 * and no file imports itself back through others. A new import that breaks this fails here, naming
 * the file and what it imports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cycles, folderOf, importGraph } from './import-graph.js';

/** Bottom first: each folder may use the ones before it. ARCHITECTURE.md describes each. */
const LAYERS = ['core', 'http', 'policy', 'telemetry', 'tls', 'discovery', 'balancer', 'config', 'admin', 'filters', 'client', 'grpc', 'sidecar-mode'];

test('no import cycle between files of src/', () => {
  const found = cycles(importGraph());
  assert.deepEqual(found.map((c) => c.join(' -> ')), []);
});

test('every folder imports only from the folders below it', () => {
  const graph = importGraph();
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    if (from === '.') continue; // src/index.ts is the public API: it re-exports from anywhere
    assert.ok(LAYERS.includes(from), `src/${from}/ is a folder this test does not know; place it in LAYERS`);
    for (const target of targets) {
      const to = folderOf(target);
      if (to === from) continue;
      if (!(LAYERS.indexOf(to) < LAYERS.indexOf(from))) upward.push(`${file} imports ${target}`);
    }
  }
  assert.deepEqual(upward, []);
});

test('the checks can fail: a cycle and an upward import are found', () => {
  const graph = new Map([
    ['core/a.ts', ['filters/b.ts']],
    ['filters/b.ts', ['core/a.ts']],
  ]);
  assert.equal(cycles(graph).length, 1);
  assert.ok(LAYERS.indexOf('filters') > LAYERS.indexOf('core'));
});

test("ARCHITECTURE.md's layout names every folder of src/, in the order of the layers", async () => {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(new URL('../../ARCHITECTURE.md', import.meta.url), 'utf8');
  const layout = text.slice(text.indexOf('## Layout'));
  const positions = LAYERS.map((folder) => layout.indexOf(`src/${folder}/`));
  LAYERS.forEach((folder, i) => assert.ok(positions[i]! >= 0, `ARCHITECTURE.md's layout does not mention src/${folder}/`));
  assert.deepEqual([...positions].sort((a, b) => a - b), positions, 'the layout lists the folders in another order than the layers');
  const folders = new Set([...importGraph().keys()].map(folderOf).filter((f) => f !== '.'));
  assert.deepEqual([...folders].sort(), [...LAYERS].sort(), 'src/ has folders LAYERS does not list (or the other way round)');
});
