/**
 * `mesh-sidecar identity init|issue`: enough CA to run mTLS without other tooling, for development
 * and small installations. Output is for people; the exit code is what scripts check.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from '../core/duration.js';
import { isMeshError } from '../core/errors.js';
import { certificateNotAfter, createAuthority, issueLeaf } from '../tls/certificate-authority.js';
import { CA_FILES, readAuthority, writeAuthority, writeLeaf } from '../tls/identity-files.js';
import { parseSpiffeId } from '../tls/spiffe-id.js';

export interface IdentityIo { out: (s: string) => void; err: (s: string) => void }

const DEFAULT_LEAF_TTL = '24h';
// Long enough to plan an issuer rotation, short enough not to nag all year.
const EXPIRY_WARNING_MS = 30 * 24 * 3_600_000;

const USAGE = `mesh-sidecar identity — a small CA for the mesh's mTLS identities (SPIFFE X.509-SVIDs).

Usage:
  mesh-sidecar identity init  --dir <ca dir> --trust-domain <domain> [--force]
  mesh-sidecar identity issue --ca <ca dir> --name <spiffe id> --out <dir> [--ttl 24h] [--dns <name>]...

Run "mesh-sidecar identity init --help" or "... issue --help" for details.
`;

const INIT_USAGE = `mesh-sidecar identity init — create a trust anchor and an issuer.

Usage:
  mesh-sidecar identity init --dir <ca dir> --trust-domain <domain> [--force]

  --dir <ca dir>            where to write ca.crt, ca.key (the trust anchor, ~1 year) and
                            issuer.crt, issuer.key (the intermediate that signs workloads)
  --trust-domain <domain>   e.g. cluster.local; identities will be spiffe://<domain>/...
  --force                   replace an existing CA; certificates it issued stop verifying
  -h, --help                show this text

Keys are written mode 0600, certificates 0644. Distribute ca.crt to every proxy; keep ca.key offline
if you can.
`;

const ISSUE_USAGE = `mesh-sidecar identity issue — issue a workload certificate.

Usage:
  mesh-sidecar identity issue --ca <ca dir> --name <spiffe id> --out <dir> [--ttl 24h] [--dns <name>]...

  --ca <ca dir>       a directory made by "identity init"
  --name <spiffe id>  the workload's identity, e.g. spiffe://cluster.local/ns/default/sa/web
  --out <dir>         where to write tls.crt (certificate + issuer), tls.key (0600) and ca.crt
  --ttl <duration>    how long the certificate is valid                       default ${DEFAULT_LEAF_TTL}
  --dns <name>        also valid for this DNS name (repeatable)
  -h, --help          show this text
`;

/** A usage mistake: reported with a pointer to --help, exit code 2. */
class UsageError extends Error {}

/** parseArgs' own messages ("Unknown option '--nmae'") are clear; they only need to become usage errors. */
/** A subcommand's flags (and -h/--help), strictly: an unknown flag is a usage error naming the subcommand. */
function parsed(command: string, args: string[], options: NonNullable<ParseArgsConfig['options']>): { values: Record<string, string | boolean | (string | boolean)[] | undefined> } {
  try {
    return parseArgs({ args, strict: true, allowPositionals: false, options: { ...HELP_OPTION, ...options } });
  } catch (err) {
    throw new UsageError(`identity ${command}: ${(err as Error).message}`);
  }
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

function required(command: string, values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`identity ${command}: --${name} is required`);
  return value;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function init(args: string[], io: IdentityIo): Promise<number> {
  const { values } = parsed('init', args, { dir: { type: 'string' }, 'trust-domain': { type: 'string' }, force: { type: 'boolean' } });
  if (values.help === true) {
    io.out(INIT_USAGE);
    return 0;
  }
  const dir = required('init', values, 'dir');
  const trustDomain = required('init', values, 'trust-domain');
  const present: string[] = [];
  for (const name of Object.values(CA_FILES)) if (await exists(join(dir, name))) present.push(name);
  if (present.length > 0 && values.force !== true) {
    io.err(`identity init: ${dir} already holds ${present.join(', ')}; refusing to overwrite. Pass --force to replace the CA (every certificate it issued will stop verifying).\n`);
    return 2;
  }
  const ca = await createAuthority({ trustDomain });
  await writeAuthority(dir, ca);
  io.out(
    `Created a CA for trust domain ${ca.trustDomain} in ${dir}:\n` +
      `  ${join(dir, CA_FILES.rootCert)}    trust anchor, valid until ${certificateNotAfter(ca.root.certPem).toISOString()}\n` +
      `  ${join(dir, CA_FILES.rootKey)}    its key (0600)\n` +
      `  ${join(dir, CA_FILES.issuerCert)}  issuer, valid until ${certificateNotAfter(ca.issuer.certPem).toISOString()}\n` +
      `  ${join(dir, CA_FILES.issuerKey)}  its key (0600)\n` +
      `Next: mesh-sidecar identity issue --ca ${dir} --name spiffe://${ca.trustDomain}/ns/<namespace>/sa/<name> --out <dir>\n`,
  );
  return 0;
}

async function issue(args: string[], io: IdentityIo): Promise<number> {
  const { values } = parsed('issue', args, {
    ca: { type: 'string' },
    name: { type: 'string' },
    out: { type: 'string' },
    ttl: { type: 'string' },
    dns: { type: 'string', multiple: true },
  });
  if (values.help === true) {
    io.out(ISSUE_USAGE);
    return 0;
  }
  const caDir = required('issue', values, 'ca');
  const name = required('issue', values, 'name');
  const outDir = required('issue', values, 'out');
  const ttlText = typeof values.ttl === 'string' ? values.ttl : DEFAULT_LEAF_TTL;
  const ttlMs = parseDuration(ttlText);
  // parseDuration reads a bare number as milliseconds; "--ttl 24" meaning 24 ms is never intended.
  if (ttlMs === undefined || ttlMs <= 0 || /^[\d.]+$/.test(ttlText.trim())) {
    throw new UsageError(`identity issue: --ttl ${JSON.stringify(ttlText)} is not a duration with a unit, e.g. 24h, 90m`);
  }
  const id = parseSpiffeId(name);
  const ca = await readAuthority(caDir, { trustDomain: id.trustDomain });
  const dnsNames = Array.isArray(values.dns) ? values.dns.map(String) : [];
  const now = new Date();
  const leaf = await issueLeaf(ca, id.toString(), { ttlMs, now, dnsNames });
  const files = await writeLeaf(outDir, leaf, ca.root.certPem);
  io.out(
    `Issued ${leaf.spiffeId}, valid ${leaf.notBefore.toISOString()} to ${leaf.notAfter.toISOString()}:\n` +
      `  ${files.certFile}  certificate + issuer\n` +
      `  ${files.keyFile}  its key (0600)\n` +
      `  ${files.caFile}   trust anchors\n`,
  );
  const issuerEnds = certificateNotAfter(ca.issuer.certPem);
  if (leaf.notAfter.getTime() >= issuerEnds.getTime()) {
    io.err(`warning: the certificate was cut short to end with its issuer, on ${issuerEnds.toISOString()}; rotate the issuer.\n`);
  } else if (issuerEnds.getTime() - now.getTime() < EXPIRY_WARNING_MS) {
    io.err(`warning: the issuer in ${caDir} expires on ${issuerEnds.toISOString()}; rotate it before then.\n`);
  }
  return 0;
}

/** Runs `identity init|issue` with the args after "identity"; writes human text to out/err; returns the exit code (0 ok, 2 usage/input error, 1 anything else, such as a write that failed). */
export async function runIdentityCommand(argv: string[], io: IdentityIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'init':
        return await init(rest, io);
      case 'issue':
        return await issue(rest, io);
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return 0;
      case undefined:
        io.err(USAGE);
        return 2;
      default:
        throw new UsageError(`identity: unknown command ${JSON.stringify(command)}; expected init or issue`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\nRun "mesh-sidecar identity ${command === 'init' || command === 'issue' ? `${command} ` : ''}--help" for usage.\n`);
      return 2;
    }
    if (isMeshError(err, 'INVALID_OPTIONS') || isMeshError(err, 'INVALID_CONFIG')) {
      io.err(`identity ${command}: ${err.message}\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.err(`identity ${command}: failed: ${message}\n`);
    return 1;
  }
}
