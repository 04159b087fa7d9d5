import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonLines } from '../../../src/discovery/kubernetes/json-lines.js';

const events = [
  { type: 'ADDED', object: { metadata: { name: 'a', annotations: { note: 'zürich ☃ 東京' } } } },
  { type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } },
  { type: 'DELETED', object: { metadata: { name: 'a' } } },
];
const bytes = Buffer.from(events.map((e) => `${JSON.stringify(e)}\n`).join(''));

test('lines split at every byte, multi-byte characters included, come out whole and in order', () => {
  for (let cut = 1; cut < bytes.length; cut++) {
    const lines = new JsonLines();
    const out = [...lines.push(bytes.subarray(0, cut)), ...lines.push(bytes.subarray(cut))];
    assert.deepEqual(out, events, `cut at byte ${cut}`);
    assert.equal(lines.pendingBytes, 0);
  }
});

test('one byte at a time, and all lines in one chunk', () => {
  const lines = new JsonLines();
  const out: unknown[] = [];
  for (const byte of bytes) out.push(...lines.push(Buffer.from([byte])));
  assert.deepEqual(out, events);
  assert.deepEqual(new JsonLines().push(bytes), events);
});

test('a partial line is held back and reported as pending; blank lines are skipped', () => {
  const lines = new JsonLines();
  assert.deepEqual(lines.push(Buffer.from('\n\r\n{"type":"ADD')), []);
  assert.equal(lines.pendingBytes, 12);
  assert.deepEqual(lines.push(Buffer.from('ED"}\n')), [{ type: 'ADDED' }]);
});

test('a line that is not JSON, or one longer than the limit, is an error that quotes it', () => {
  assert.throws(() => new JsonLines().push(Buffer.from('<html>502 Bad Gateway</html>\n')), /a watch line is not JSON .*"<html>502 Bad Gateway<\/html>"/);
  const small = new JsonLines(16);
  assert.throws(() => small.push(Buffer.from('{"type":"ADDED","object":{}')), /longer than 16 bytes/);
});
