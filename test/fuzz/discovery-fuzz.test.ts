/**
 * Discovery input as it arrives broken: endpoint files mutated byte by byte, DNS answers with odd
 * records or corrupted bytes (from a DNS server that answers exactly what the test says), and
 * Kubernetes EndpointSlices with fields of the wrong shape in watch events. Whatever comes, a
 * resolver never throws, never publishes an endpoint that is not a usable address and port, keeps
 * the last good set when the input is bad, says so, and takes the next good input.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { ManualClock, type Clock } from '../../src/core/clock.js';
import type { EndpointAddress } from '../../src/discovery/endpoint-address.js';
import { readEndpointList } from '../../src/discovery/endpoint-list.js';
import { DnsResolver } from '../../src/discovery/dns-resolver.js';
import { FileResolver } from '../../src/discovery/file-resolver.js';
import { endpointsFromSlices, type EndpointSlice } from '../../src/discovery/kubernetes/endpoint-slices.js';
import { KubernetesResolver } from '../../src/discovery/kubernetes/kubernetes-resolver.js';
import { EventQueue } from '../helpers/event-queue.js';
import { startFakeDns, encodeName, type DnsAnswer, type DnsRecord } from '../helpers/fake-dns.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { endpointSlice, fakeCredentials } from '../helpers/kube-objects.js';
import { applyEdits, fuzzParameters, textEdit } from '../helpers/fuzz.js';

const show = (set: readonly EndpointAddress[]) => set.map((e) => `${e.host}:${e.port}`).sort().join(',');

function assertUsable(set: readonly EndpointAddress[], input: unknown): void {
  assert.ok(set.length > 0, `an empty set was published for ${JSON.stringify(input)}`);
  for (const e of set) {
    assert.ok(typeof e.host === 'string' && e.host.length > 0, `host ${JSON.stringify(e.host)} from ${JSON.stringify(input)}`);
    assert.ok(Number.isInteger(e.port) && e.port >= 1 && e.port <= 65_535, `port ${JSON.stringify(e.port)} from ${JSON.stringify(input)}`);
  }
}

// ---- Kubernetes EndpointSlices -------------------------------------------------------------------

const odd = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(0, -1, 65_536, 1.5, '8080', '', 'not-an-ip', '10.0.0.1', null, [], {}));

/** A good slice with one field somewhere replaced by a value of the wrong shape. */
const mutatedSlice = fc
  .record({ ips: fc.array(fc.ipV4(), { minLength: 1, maxLength: 3 }), where: fc.constantFrom('ports', 'ports[0]', 'ports[0].port', 'ports[0].name', 'endpoints', 'endpoints[0]', 'endpoints[0].addresses', 'endpoints[0].addresses[0]', 'endpoints[0].conditions', 'addressType'), value: odd })
  .map(({ ips, where, value }) => {
    const slice = endpointSlice('reviews', 'reviews-fuzz', ips) as Record<string, any>;
    const path = where.split(/\.|\[|\]/).filter(Boolean);
    const parent = path.slice(0, -1).reduce((node, step) => node[step], slice);
    parent[path.at(-1)!] = value;
    return slice;
  });

test('EndpointSlices with fields of the wrong shape never throw and never yield an unusable endpoint', () => {
  fc.assert(
    fc.property(fc.array(mutatedSlice, { minLength: 1, maxLength: 3 }), (slices) => {
      const good = endpointSlice('reviews', 'reviews-good', ['10.9.9.9']) as unknown as EndpointSlice;
      const set = endpointsFromSlices([...(slices as unknown as EndpointSlice[]), good], 'http');
      assertUsable(set, slices);
      assert.ok(set.some((e) => e.host === '10.9.9.9'), 'a malformed slice hid the good one');
    }),
    fuzzParameters('EndpointSlices', 500),
  );
});

test('a malformed EndpointSlice in a watch event does not stop the resolver: the next good event is taken', async () => {
  const api = await FakeKubeApi.start();
  const clock = new ManualClock();
  const resolver = new KubernetesResolver({ service: 'reviews', port: 'http', credentials: fakeCredentials(api), clock, random: () => 0 });
  const sets = new EventQueue<string>();
  resolver.start({ onEndpoints: (set) => sets.push(show(set)), onError: () => {} });
  try {
    api.put('endpointslices', endpointSlice('reviews', 'reviews-a', ['10.0.0.1']));
    assert.equal(await sets.next(), '10.0.0.1:8080');
    await api.nextWatch();
    await fc.assert(
      fc.asyncProperty(mutatedSlice, fc.ipV4(), async (slice, next) => {
        api.put('endpointslices', slice as never);
        api.put('endpointslices', endpointSlice('reviews', 'reviews-a', [next]));
        // The good slice's address arrives (with whatever the malformed one still adds that is usable).
        await sets.until((set) => set.split(',').includes(`${next}:8080`), `the good slice's ${next}`);
        for (const set of sets.all) assert.ok(!/:(0|NaN|undefined)$|^:|undefined/.test(set), `published ${set}`);
      }),
      fuzzParameters('EndpointSlice watch events', 30),
    );
  } finally {
    await resolver.close();
    await api.close();
  }
});

// ---- DNS answers ---------------------------------------------------------------------------------

const srvRecord: fc.Arbitrary<DnsRecord> = fc.record({
  type: fc.constant('SRV' as const),
  priority: fc.nat({ max: 65_535 }),
  weight: fc.nat({ max: 65_535 }),
  port: fc.oneof(fc.constantFrom(0, 1, 80, 65_535), fc.nat({ max: 65_535 })),
  target: fc.constantFrom('a.fuzz.test', 'b.fuzz.test', 'missing.fuzz.test', '.', 'x'.repeat(70)),
  ttl: fc.constantFrom(0, 1, 30, 2 ** 31),
});

/** What the fake server answers to the SRV question: records, a failure code, or corrupted bytes. */
const srvAnswer: fc.Arbitrary<{ kind: string; answer: DnsAnswer }> = fc.oneof(
  fc.array(srvRecord, { maxLength: 4 }).map((records) => ({ kind: 'records', answer: records as DnsAnswer })),
  fc.constantFrom(1, 2, 3, 5).map((rcode) => ({ kind: 'rcode', answer: { rcode } })),
  fc.record({ records: fc.array(srvRecord, { minLength: 1, maxLength: 2 }), cut: fc.nat(), flips: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }) }).map(({ records, cut, flips }) => ({
    kind: 'bytes',
    answer: {
      raw: (id: Buffer) => {
        const question = Buffer.concat([encodeName('_http._tcp.fuzz.test'), Buffer.from([0, 33, 0, 1])]);
        const body = Buffer.concat(records.map((r) => (r.type === 'SRV' ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 30, 0, 6 + encodeName(r.target).length]), Buffer.from([r.priority >> 8, r.priority & 255, r.weight >> 8, r.weight & 255, r.port >> 8, r.port & 255]), encodeName(r.target)]) : Buffer.alloc(0))));
        const message = Buffer.concat([id, Buffer.from([0x81, 0x80, 0, 1, 0, records.length, 0, 0, 0, 0]), question, body]);
        for (const [at, byte] of flips) message[at % message.length] = byte;
        return message.subarray(0, Math.max(2, message.length - (cut % 8)));
      },
    } as DnsAnswer,
  })),
);

/** A ManualClock that says when a timer is set: the DNS resolver sets one at the end of every lookup. */
function signallingClock(): { clock: Clock & { advance(ms: number): void }; lookupDone: () => Promise<void> } {
  const manual = new ManualClock();
  let done: (() => void) | undefined;
  const clock = {
    now: () => manual.now(),
    wallNow: () => manual.wallNow(),
    advance: (ms: number) => manual.advance(ms),
    setTimer(fn: () => void, ms: number) {
      const handle = manual.setTimer(fn, ms);
      done?.();
      return handle;
    },
  };
  return { clock, lookupDone: () => new Promise<void>((resolve) => (done = resolve)) };
}

test('SRV answers with odd records, failure codes and corrupted bytes: the last good set is kept and the error said, or a usable set is taken', async () => {
  let srv: DnsAnswer = [{ type: 'SRV', priority: 0, weight: 1, port: 8080, target: 'a.fuzz.test' }];
  const dns = await startFakeDns((q) => {
    if (q.type === 33) return srv;
    if (q.type === 1 && q.name === 'a.fuzz.test') return [{ type: 'A', address: '10.1.0.1' }];
    if (q.type === 1 && q.name === 'b.fuzz.test') return [{ type: 'A', address: '10.1.0.2' }];
    return { rcode: 3 };
  });
  const { clock, lookupDone } = signallingClock();
  const resolver = new DnsResolver({ mode: 'srv', name: '_http._tcp.fuzz.test', nameservers: [dns.nameserver], refreshIntervalMs: 1_000, queryTimeoutMs: 500, clock });
  let current: readonly EndpointAddress[] | undefined;
  const events: ({ set: readonly EndpointAddress[] } | { error: Error })[] = [];
  let first = lookupDone();
  resolver.start({ onEndpoints: (set) => events.push({ set }), onError: (error) => events.push({ error }) });
  try {
    await first;
    assert.equal(show((events[0] as { set: EndpointAddress[] }).set), '10.1.0.1:8080');
    current = (events[0] as { set: EndpointAddress[] }).set;
    await fc.assert(
      fc.asyncProperty(srvAnswer, async ({ kind, answer }) => {
        events.length = 0;
        srv = answer;
        first = lookupDone();
        clock.advance(60_000);
        await first;
        const published = events.filter((e): e is { set: readonly EndpointAddress[] } => 'set' in e);
        const errors = events.filter((e): e is { error: Error } => 'error' in e);
        for (const { set } of published) assertUsable(set, { kind, answer });
        if (published.length > 0) current = published.at(-1)!.set;
        else if (errors.length > 0) assert.match(errors[0]!.error.message, /SRV lookup failed .*keeping the last \d+ endpoint/);
        // Whatever happened, the resolver still has a usable set.
        assertUsable(current!, { kind, answer });
      }),
      fuzzParameters('SRV answers', 60),
    );
  } finally {
    await resolver.close();
    await dns.close();
  }
});

// ---- Endpoint files ------------------------------------------------------------------------------

const GOOD_FILES = ['["127.0.0.1:9081", {"host": "127.0.0.1", "port": 9082}]', 'endpoints:\n  - 10.0.0.1:80\n  - host: "::1"\n    port: 8080\n', '- 10.0.0.2:443\n'];

test('endpoint files mutated byte by byte: a bad one keeps the last good set and is reported with the file\'s name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-fuzz-eps-'));
  const file = join(dir, 'eps.yaml');
  await writeFile(file, GOOD_FILES[0]!);
  const resolver = new FileResolver({ path: file, pollIntervalMs: 100, debounceMs: 10 });
  const sets = new EventQueue<string>();
  const errors = new EventQueue<string>();
  resolver.start({ onEndpoints: (set) => sets.push(show(set)), onError: (e) => errors.push(e.message) });
  try {
    let last = await sets.next('the first set');
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: GOOD_FILES.length - 1 }), fc.array(textEdit, { minLength: 1, maxLength: 4 }), async (which, edits) => {
        const text = applyEdits(GOOD_FILES[which]!, edits);
        // What the file should give, worked out from the same rules without the resolver.
        let expected: string | Error;
        try {
          const set = readEndpointList(parse(text));
          expected = show(set);
        } catch (err) {
          expected = err as Error;
        }
        sets.drain();
        errors.drain();
        await writeFile(file, text);
        if (expected instanceof Error) {
          const message = await errors.next(`the error for ${JSON.stringify(text)}`);
          assert.match(message, /eps\.yaml[^]*keeping the last known endpoints/);
        } else if (expected !== last && expected !== '') {
          last = await sets.next(`the set of ${JSON.stringify(text)}`);
          assert.equal(last, expected);
        }
        for (const set of sets.all) assert.ok(!/:(0|NaN|undefined)(,|$)/.test(set), `published ${set}`);
        // A good file after it is taken: the resolver is still watching. Each one is new, so it is a change.
        round++;
        const fresh = `- 10.200.${round >> 8}.${round & 255}:80\n`;
        await writeFile(file, fresh);
        last = await sets.until((s) => s === `10.200.${round >> 8}.${round & 255}:80`, 'the good file after');
      }),
      fuzzParameters('endpoint files', 25),
    );
  } finally {
    await resolver.close();
    await rm(dir, { recursive: true, force: true });
  }
});
