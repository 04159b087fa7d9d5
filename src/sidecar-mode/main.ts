#!/usr/bin/env node
/**
 * The `mesh-sidecar` command. The name is reserved in package.json now so that scripts and
 * container images can refer to it; the proxy itself (outbound/inbound listeners, admin server)
 * arrives with the sidecar work. Until then the command says so plainly and exits non-zero, rather
 * than pretending to proxy.
 */
const HELP = `mesh-sidecar — the meshwork stack as a proxy beside apps in any language.

Usage:
  mesh-sidecar --help       show this text
  mesh-sidecar --version    print the meshwork version

This release of meshwork ships the in-process client only (meshClient, createMesh); the sidecar
proxy is not part of it yet. Use createMesh({ config: 'mesh.yaml' }) from Node in the meantime.
`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (args.includes('--version')) {
  const { createRequire } = await import('node:module');
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  process.stdout.write(`${pkg.version}\n`);
  process.exit(0);
}
process.stderr.write('mesh-sidecar: this release has no sidecar proxy yet; run `mesh-sidecar --help`\n');
process.exit(2);
