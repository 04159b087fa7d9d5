import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { isSpiffeId, isSpiffeIdPattern, parseSpiffeId, spiffeIdMatches, spiffeIdOfSubjectAltName } from '../../src/tls/spiffe-id.js';

test('parses valid SPIFFE IDs into trust domain and path', () => {
  const id = parseSpiffeId('spiffe://cluster.local/ns/default/sa/web');
  assert.equal(id.trustDomain, 'cluster.local');
  assert.equal(id.path, '/ns/default/sa/web');
  assert.equal(id.toString(), 'spiffe://cluster.local/ns/default/sa/web');
  assert.equal(`${id}`, 'spiffe://cluster.local/ns/default/sa/web');

  const domainOnly = parseSpiffeId('spiffe://example.org');
  assert.equal(domainOnly.path, '');
  for (const ok of ['spiffe://a_b-c.9/Path.With-Mixed_Case/x', 'spiffe://td/...x/a..b', 'spiffe://td/a']) assert.ok(isSpiffeId(ok), ok);
});

test('rejects what the SPIFFE spec forbids, with a message that says why', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['http://td/a', /must start with "spiffe:\/\/"/],
    ['SPIFFE://td/a', /lower-case "spiffe:\/\/"/],
    ['spiffe:///a', /trust domain is missing/],
    ['spiffe://', /trust domain is missing/],
    ['spiffe://Cluster.local/a', /trust domain must be lower-case/],
    ['spiffe://td:8080/a', /port/],
    ['spiffe://user@td/a', /user info/],
    ['spiffe://t d/a', /may only contain a-z/],
    ['spiffe://td/a/', /must not end with "\/"/],
    ['spiffe://td/', /must not end with "\/"/],
    ['spiffe://td//a', /empty segment/],
    ['spiffe://td/a/./b', /"\." segments/],
    ['spiffe://td/a/..', /"\.\." segments/],
    ['spiffe://td/a?x=1', /query or fragment/],
    ['spiffe://td/a#frag', /query or fragment/],
    ['spiffe://td?x', /query or fragment/],
    ['spiffe://td/a%20b', /percent-encoded/],
    ['spiffe://td/a b', /may only contain A-Z/],
    ['spiffe://td/ü', /U\+00FC/],
    ['spiffe://td/*', /may only contain/],
    [`spiffe://td/${'a'.repeat(2048)}`, /longer than 2048 bytes/],
    [`spiffe://${'a'.repeat(256)}/x`, /longer than 255/],
  ];
  for (const [text, reason] of cases) {
    assert.equal(isSpiffeId(text), false, text);
    assert.throws(
      () => parseSpiffeId(text),
      (err: unknown) => isMeshError(err, 'INVALID_OPTIONS') && reason.test(err.message) && err.message.includes('invalid SPIFFE ID'),
      text,
    );
  }
});

test('patterns: exact IDs, and a trailing * for one or more segments', () => {
  const web = 'spiffe://cluster.local/ns/prod/sa/web';
  assert.ok(spiffeIdMatches(web, web));
  assert.ok(!spiffeIdMatches(web, 'spiffe://cluster.local/ns/prod/sa/web2'));
  assert.ok(!spiffeIdMatches(web, 'spiffe://cluster.local/ns/prod/sa'));

  assert.ok(spiffeIdMatches('spiffe://cluster.local/ns/prod/sa/*', web));
  assert.ok(!spiffeIdMatches('spiffe://cluster.local/ns/prod/sa/*', 'spiffe://cluster.local/ns/prod/sa'));
  assert.ok(!spiffeIdMatches('spiffe://cluster.local/ns/prod/sa/*', 'spiffe://cluster.local/ns/staging/sa/web'));
  // A prefix that is not at a segment boundary does not match.
  assert.ok(!spiffeIdMatches('spiffe://cluster.local/ns/prod/*', 'spiffe://cluster.local/ns/production/sa/web'));
  assert.ok(spiffeIdMatches('spiffe://cluster.local/ns/prod/*', web));

  assert.ok(spiffeIdMatches('spiffe://cluster.local/*', web));
  assert.ok(!spiffeIdMatches('spiffe://cluster.local/*', 'spiffe://other.local/ns/prod/sa/web'));
  assert.ok(!spiffeIdMatches('spiffe://cluster.local/*', 'spiffe://cluster.localx/ns/prod/sa/web'));

  // Malformed patterns or IDs match nothing: authorization fails closed.
  for (const bad of ['spiffe://cluster.local/ns/prod/sa/w*', 'spiffe://*', 'spiffe://cluster.local/*/sa/web', '*', '']) {
    assert.equal(isSpiffeIdPattern(bad), false, bad);
    assert.ok(!spiffeIdMatches(bad, web), bad);
  }
  assert.ok(!spiffeIdMatches('spiffe://cluster.local/*', 'spiffe://cluster.local/ns/../sa/web'));
  assert.ok(isSpiffeIdPattern('spiffe://cluster.local/*'));
  assert.ok(isSpiffeIdPattern(web));
});

test('the SPIFFE ID from Node subjectaltname text', () => {
  assert.equal(spiffeIdOfSubjectAltName('URI:spiffe://td/ns/a/sa/b'), 'spiffe://td/ns/a/sa/b');
  assert.equal(spiffeIdOfSubjectAltName('DNS:web.a.svc, URI:spiffe://td/ns/a/sa/b, IP Address:127.0.0.1'), 'spiffe://td/ns/a/sa/b');
  // Node JSON-quotes values with awkward characters; a quoted comma must not split an entry.
  assert.equal(spiffeIdOfSubjectAltName('DNS:"a, URI:spiffe://td/x", URI:spiffe://td/ns/a/sa/b'), 'spiffe://td/ns/a/sa/b');
  assert.equal(spiffeIdOfSubjectAltName('URI:"spiffe://td/ns/a/sa/b"'), 'spiffe://td/ns/a/sa/b');

  assert.equal(spiffeIdOfSubjectAltName(undefined), undefined);
  assert.equal(spiffeIdOfSubjectAltName(''), undefined);
  assert.equal(spiffeIdOfSubjectAltName('DNS:web.a.svc'), undefined);
  assert.equal(spiffeIdOfSubjectAltName('URI:spiffe://td/ns/a/sa/b, URI:spiffe://td/ns/a/sa/c'), undefined, 'two identities');
  assert.equal(spiffeIdOfSubjectAltName('URI:spiffe://td/ns/a/sa/b, URI:https://example.com'), undefined, 'an X.509-SVID has exactly one URI SAN');
  assert.equal(spiffeIdOfSubjectAltName('URI:https://example.com'), undefined);
  assert.equal(spiffeIdOfSubjectAltName('URI:spiffe://td/ns/../sa/b'), undefined);
  assert.equal(spiffeIdOfSubjectAltName('URI:spiffe://td'), undefined, 'a trust domain is not a workload');
  assert.equal(spiffeIdOfSubjectAltName('URI:"spiffe://td/a'), undefined, 'unterminated quote');
});
