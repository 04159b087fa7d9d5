/**
 * HTTP/1.1 requests mutated at the byte level against the sidecar's outbound and inbound
 * listeners. The inputs start from the shapes request smuggling is made of (Content-Length with
 * Transfer-Encoding, two lengths, obfuscated chunked, pipelined requests, an upgrade with bytes
 * behind it, absolute URIs, HTTP/1.0) and are then cut, spliced and salted with the characters
 * parsers disagree about. For every input, on a connection of its own:
 * - the sidecar answers with the app's response or a 4xx/5xx of its own, or closes, and never hangs
 *   (short header, request and idle timeouts bound every connection);
 * - the app, a strict parser, never sees a request it cannot parse, nor more requests than the
 *   callers received the app's answers to: nothing is smuggled past the sidecar's own parse;
 * - the sidecar is still alive and serving afterwards.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { request } from 'undici';
import { applyEdits, fuzzParameters, textEdit } from '../helpers/fuzz.js';
import { openRaw } from '../helpers/raw-socket.js';
import { startSidecarProcess, type SidecarProcess } from '../helpers/sidecar-process.js';

let app: Server;
let sidecar: SidecarProcess;
const appSeen: { method: string; url: string }[] = [];
const appParseErrors: string[] = [];

before(async () => {
  app = createServer((req, res) => {
    req.resume();
    // A request counts once it is whole: one whose caller stalled is cut by the sidecar half way.
    req.on('end', () => appSeen.push({ method: req.method!, url: req.url! }));
    req.on('end', () => res.writeHead(200, { 'x-from-app': 'yes', 'content-type': 'text/plain' }).end('app answered\n'));
  });
  app.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    // The sidecar hanging up mid-request (its caller stalled or went away) is an abort, not a parse error.
    if (err.code !== 'ECONNRESET' && err.code !== 'HPE_INVALID_EOF_STATE') appParseErrors.push(`${err.code}: ${err.message} in ${JSON.stringify(err.rawPacket?.toString('latin1'))}`);
    socket.destroy();
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const appAddress = `127.0.0.1:${(app.address() as AddressInfo).port}`;
  sidecar = await startSidecarProcess(
    `apiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec:\n  unknownHosts: refuse\n  services:\n    words: { endpoints: ["${appAddress}"], retries: false }\n`,
    ['--inbound', '127.0.0.1:0', '--app', appAddress, '--headers-timeout', '150ms', '--request-timeout', '300ms', '--idle-timeout', '150ms'],
  );
});

after(async () => {
  await sidecar?.stop();
  app?.closeAllConnections();
  await new Promise((resolve) => app?.close(resolve));
});

const INNER = 'GET /smuggled HTTP/1.1\r\nHost: words\r\n\r\n';
const SHAPES = [
  'GET /f HTTP/1.1\r\nHost: words\r\nConnection: close\r\n\r\n',
  'POST /f HTTP/1.1\r\nHost: words\r\nContent-Length: 5\r\n\r\nhello',
  'POST /f HTTP/1.1\r\nHost: words\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  `POST /f HTTP/1.1\r\nHost: words\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${INNER}`,
  `POST /f HTTP/1.1\r\nHost: words\r\nContent-Length: 0\r\nContent-Length: ${INNER.length}\r\n\r\n${INNER}`,
  `POST /f HTTP/1.1\r\nHost: words\r\nTransfer-Encoding: xchunked\r\nContent-Length: ${INNER.length}\r\n\r\n${INNER}`,
  `POST /f HTTP/1.1\r\nHost: words\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${INNER}`,
  `POST /f HTTP/1.1\r\nHost: words\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${INNER}`,
  `POST /f HTTP/1.1\r\nHost: words\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${INNER}`,
  `GET /f HTTP/1.1\r\nHost: words\r\n\r\nGET /g HTTP/1.1\r\nHost: words\r\nConnection: close\r\n\r\n`,
  `GET /f HTTP/1.1\r\nHost: words\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n${INNER}`,
  'GET http://words/f HTTP/1.1\r\nHost: words\r\nConnection: close\r\n\r\n',
  'GET /f HTTP/1.0\r\nHost: words\r\n\r\n',
  'POST /f HTTP/1.1\r\nHost: words\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
  `GET /f HTTP/1.1\nHost: words\n\n${INNER}`,
];

interface Outcome {
  statuses: number[];
  appAnswers: number;
}

/** Sends one input on a fresh connection and reads until the sidecar closes it; a hang fails the test. */
async function exchange(address: string, bytes: string): Promise<Outcome> {
  const connection = await openRaw(address);
  connection.socket.write(Buffer.from(bytes, 'latin1'));
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the sidecar neither answered nor closed within 5 s; got ${JSON.stringify(connection.received().slice(0, 300))} for ${JSON.stringify(bytes)}`)), 5_000);
  });
  try {
    const text = await Promise.race([connection.closed, hung]);
    const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
    return { statuses, appAnswers: (text.match(/\r\nx-from-app: yes\r\n/gi) ?? []).length };
  } finally {
    clearTimeout(timer);
    connection.socket.destroy();
  }
}

const fuzzedRequest = fc.record({
  shape: fc.nat({ max: SHAPES.length - 1 }),
  edits: fc.array(textEdit, { maxLength: 4 }),
  inbound: fc.boolean(),
});

test('byte-mutated HTTP/1.1 requests: answered 4xx or closed when malformed, never forwarded unparsed, never a crash or a hang', async () => {
  let inputs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fuzzedRequest, { minLength: 16, maxLength: 16 }), async (batch) => {
      const seenBefore = appSeen.length;
      // A batch runs at once; its requests are told apart by counting, not by connection.
      const outcomes = await Promise.all(batch.map(({ shape, edits, inbound }) => exchange(inbound ? sidecar.inbound! : sidecar.outbound, applyEdits(SHAPES[shape]!, edits))));
      inputs += batch.length;
      for (const { statuses } of outcomes) {
        for (const status of statuses) assert.ok(status === 100 || status === 200 || status >= 400, `unexpected status ${status}`);
      }
      assert.deepEqual(appParseErrors, [], `the app received bytes it could not parse as HTTP/1.1; the inputs were ${JSON.stringify(batch.map(({ shape, edits }) => applyEdits(SHAPES[shape]!, edits)))}`);
      const answered = outcomes.reduce((sum, o) => sum + o.appAnswers, 0);
      assert.equal(appSeen.length - seenBefore, answered, `the app saw ${appSeen.length - seenBefore} requests but the callers got ${answered} of its answers: ${JSON.stringify(appSeen.slice(seenBefore))} for ${JSON.stringify(batch.map(({ shape, edits }) => applyEdits(SHAPES[shape]!, edits)))} answered ${JSON.stringify(outcomes)}`);
      assert.equal(sidecar.child.exitCode, null, 'the sidecar exited');
    }),
    fuzzParameters('HTTP/1.1 bytes', 12),
  );
  const after = await request(`http://${sidecar.outbound}/after`, { headers: { host: 'words' } });
  assert.equal(after.statusCode, 200);
  await after.body.dump();
  console.log(`${inputs} fuzzed requests; the app saw ${appSeen.length}, all of them answered to the caller`);
});

test('a malformed request pipelined behind a valid one: the valid one gets its answer first, then the 400', async () => {
  for (const address of [sidecar.outbound, sidecar.inbound!]) {
    const seenBefore = appSeen.length;
    const { statuses, appAnswers } = await exchange(address, 'POST /first HTTP/1.1\r\nHost: words\r\nContent-Length: 2\r\n\r\nokGET /second HTTP/1.1\r\nHost: words\r\nBad Header\r\n\r\n');
    assert.deepEqual(statuses, [200, 400]);
    assert.equal(appAnswers, 1);
    assert.deepEqual(appSeen.slice(seenBefore).map((r) => r.url), ['/first']);
  }
});

test('two valid requests pipelined ahead of a malformed one: both get their answers, in order, then the 400', async () => {
  for (const address of [sidecar.outbound, sidecar.inbound!]) {
    const seenBefore = appSeen.length;
    const { statuses, appAnswers } = await exchange(
      address,
      'POST /first HTTP/1.1\r\nHost: words\r\nContent-Length: 2\r\n\r\nokGET /second HTTP/1.1\r\nHost: words\r\n\r\nGET /third HTTP/1.1\r\nHost: words\r\nBad Header\r\n\r\n',
    );
    assert.deepEqual(statuses, [200, 200, 400]);
    assert.equal(appAnswers, 2);
    // The sidecar forwards pipelined requests side by side, so the app may see them in either order;
    // the caller's answers are in its order.
    assert.deepEqual(appSeen.slice(seenBefore).map((r) => r.url).sort(), ['/first', '/second']);
  }
});
