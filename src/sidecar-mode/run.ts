/**
 * The `mesh-sidecar` command, once main.ts has tuned the VM: parse flags, start the sidecar, log
 * one ready line, and drain on SIGTERM/SIGINT. Every failure before the listeners are up is one
 * line on stderr and exit 2.
 */
import { createRequire } from 'node:module';
import { isMeshError } from '../core/errors.js';
import { CliError, HELP, parseCli, VIEW_COMMANDS, type CliCommand, type ViewCommandName } from './cli-args.js';
import { jsonLogger } from './json-logger.js';
import { startSidecar, type Sidecar } from './sidecar.js';
import { formatHostPort } from '../config/listen-address.js';

// `mesh-sidecar identity init|issue ...`: the small CA, for a laptop or a test cluster.
if (process.argv[2] === 'identity') {
  const { runIdentityCommand } = await import('./identity-command.js');
  const code = await runIdentityCommand(process.argv.slice(3), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
  process.exit(code);
}

// `mesh-sidecar stat|routes|top|tap|check ...`: views of a running sidecar, and its checks.
if ((VIEW_COMMANDS as readonly string[]).includes(process.argv[2] ?? '')) {
  const { runViewCommand } = await import('./cli/view-commands.js');
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  const io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s), isTTY: process.stdout.isTTY === true, interrupted: interrupted.signal };
  const code = await runViewCommand(process.argv[2] as ViewCommandName, process.argv.slice(3), io);
  // Let stdout drain into a pipe before exiting.
  process.stdout.write('', () => process.exit(code));
  await new Promise(() => {});
}

let command: CliCommand;
try {
  command = parseCli(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof CliError)) throw err;
  process.stderr.write(`mesh-sidecar: ${err.message}\n`);
  process.exit(2);
}

if (command.kind === 'help') {
  process.stdout.write(HELP);
  process.exit(0);
}
if (command.kind === 'version') {
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  process.stdout.write(`${pkg.version}\n`);
  process.exit(0);
}

const logger = jsonLogger(command.overrides.logLevel ?? 'info');
let sidecar: Sidecar;
try {
  sidecar = await startSidecar({ config: command.config, overrides: command.overrides, gatewayOverrides: command.gateway, logger });
} catch (err) {
  // One problem is one line (file:line:col: field: what is wrong); several are listed, one a line.
  let message = isMeshError(err) ? err.message : (err as Error).stack ?? String(err);
  const lines = message.split('\n');
  if (isMeshError(err) && lines.length === 2) message = lines[1]!.trim();
  process.stderr.write(`mesh-sidecar: ${message}\n`);
  process.exit(2);
}
logger.level = sidecar.settings.logLevel;

// A failing peer or a bug in one request must never take the proxy (and the app's traffic) down.
process.on('uncaughtException', (err) => logger.error('uncaught exception; the sidecar keeps running', { error: err.message, stack: err.stack }));
process.on('unhandledRejection', (reason) => logger.error('unhandled rejection; the sidecar keeps running', { error: String((reason as Error)?.message ?? reason) }));

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info('draining', { signal, graceMs: sidecar.settings.drainGraceMs });
  // Whatever happens inside the drain, the process ends shortly after the grace period.
  setTimeout(() => {
    logger.error('the drain did not finish after the grace period; exiting anyway', { signal });
    process.exit(0);
  }, sidecar.settings.drainGraceMs + 5_000).unref();
  sidecar.drain().then(
    ({ clean }) => {
      // A stop that was asked for is a success either way; the log says whether anything was cut.
      if (clean) logger.info('drained; exiting', { signal });
      else logger.warn('grace period over; requests still in flight were cut', { signal });
      process.exit(0);
    },
    (err: Error) => {
      logger.error('drain failed', { error: err.message });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

const address = (a: { host: string; port: number } | null) => (a ? formatHostPort(a) : null);
// Printed whatever the log level: scripts and tests wait for this line to learn the bound ports.
jsonLogger('info').info('mesh-sidecar ready', {
  outbound: address(sidecar.outbound),
  inbound: address(sidecar.inbound),
  admin: address(sidecar.admin),
  app: address(sidecar.settings.app),
  ...(sidecar.gateway ? { gatewayHttps: address(sidecar.gateway.https), gatewayHttp: address(sidecar.gateway.http) } : {}),
  services: sidecar.mesh.services(),
  pid: process.pid,
});
