/**
 * YAML as kubectl, helm and kustomize write it: a leading or trailing `---`, comments-only documents
 * and empty documents between separators are skipped. A file with no document at all is not an empty
 * mesh but an invalid config, so a truncated or half-written file can never replace a good one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { parseMeshConfig } from '../../src/config/mesh-config.js';

const MESH = `apiVersion: meshwork.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec:
  services:
    reviews: { endpoints: ["127.0.0.1:9080"] }
`;

const PROFILE = `apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: reviews.default.svc.cluster.local }
spec:
  routes:
  - name: GET /reviews
    condition: { method: GET, pathRegex: /reviews }
`;

test('empty and comments-only documents are skipped, wherever they are', () => {
  const files: [string, string][] = [
    ['a trailing ---', `${MESH}---\n`],
    ['a leading ---', `---\n${MESH}`],
    ['a comments-only document', `${MESH}---\n# Source: chart/templates/profile.yaml\n# (rendered empty)\n---\n${PROFILE}`],
    ['an empty document between separators', `${MESH}---\n---\n${PROFILE}`],
    ['a separator with a comment after it', `${MESH}--- # next\n${PROFILE}---\n`],
    ['helm output', `---\n# Source: mesh/templates/mesh.yaml\n${MESH}---\n# Source: mesh/templates/unused.yaml\n---\n# Source: mesh/templates/profile.yaml\n${PROFILE}`],
  ];
  for (const [what, text] of files) {
    const config = parseMeshConfig(text, 'k8s.yaml');
    assert.deepEqual(Object.keys(config.services), ['reviews'], what);
    if (text.includes('ServiceProfile')) assert.equal(config.services.reviews!.policy.routes?.[0]?.name, 'GET /reviews', what);
  }
});

test('errors in documents after empty ones keep their line numbers and document numbers', () => {
  const text = `---\n# nothing here\n---\n---\n${MESH.replace('"127.0.0.1:9080"', '"127.0.0.1"')}---\n`;
  // Four lines before the Mesh document; its endpoints are on its line 6, column 28.
  assert.throws(
    () => parseMeshConfig(text, 'k8s.yaml'),
    (err: unknown) => isMeshError(err, 'INVALID_CONFIG') && /\(1 problem\)/.test(err.message) && /k8s\.yaml:10:28: Mesh service "reviews" spec\.services\.reviews\.endpoints\[0\]: /.test(err.message),
  );
  const unnamed = `${MESH}---\n# a comment\n---\napiVersion: meshwork.dev/v1alpha1\nkind: Mesh\nspec: { services: {}, unknwnHosts: refuse }\n`;
  assert.throws(
    () => parseMeshConfig(unnamed, 'k8s.yaml'),
    (err: unknown) => isMeshError(err, 'INVALID_CONFIG') && /k8s\.yaml:12:23: Mesh 3 spec: unknown field "unknwnHosts"/.test(err.message),
  );
});

test('a document that is a value but not a mapping is still an error, quoting what it is', () => {
  assert.throws(
    () => parseMeshConfig(`${MESH}---\njust some text\n`, 'k8s.yaml'),
    (err: unknown) => isMeshError(err, 'INVALID_CONFIG') && /k8s\.yaml:8:1: document 2: expected a mapping with apiVersion, kind, metadata and spec, got "just some text"/.test(err.message),
  );
});

test('a file with no document (empty, whitespace, comments, separators) is invalid: "the file is empty"', () => {
  for (const text of ['', '\n\n   \n', '# mesh config\n# (truncated)\n', '---\n', '---\n# only a comment\n---\n']) {
    assert.throws(
      () => parseMeshConfig(text, '/etc/mesh/mesh.yaml'),
      (err: unknown) => {
        assert.ok(isMeshError(err, 'INVALID_CONFIG'), String(err));
        assert.match(err.message, /^\/etc\/mesh\/mesh\.yaml: invalid config \(1 problem\); nothing was applied:\n  \/etc\/mesh\/mesh\.yaml: the file is empty/);
        return true;
      },
      JSON.stringify(text),
    );
  }
});
