/**
 * `mesh-sidecar stat|routes|top|tap|check`: parses the command's flags (cli-args.ts) and runs it.
 * A bad flag is exit 2, an admin port that cannot be read exit 1, each with one line on stderr.
 */
import { CliError, parseViewCli, type ViewCommandName } from '../cli-args.js';
import { AdminUnavailable } from './admin-client.js';
import { checkCommand } from './check-command.js';
import type { CommandIo } from './command-io.js';
import { routesCommand } from './routes-command.js';
import { statCommand } from './stat-command.js';
import { tapCommand } from './tap-command.js';
import { topCommand } from './top-command.js';

export async function runViewCommand(name: ViewCommandName, argv: string[], io: CommandIo): Promise<number> {
  let command;
  try {
    command = parseViewCli(name, argv);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    io.err(`mesh-sidecar ${err.message}\n`);
    return 2;
  }
  try {
    switch (command.kind) {
      case 'help':
        io.out(command.text);
        return 0;
      case 'stat':
        return await statCommand(command, io);
      case 'routes':
        return await routesCommand(command, io);
      case 'top':
        return await topCommand(command, io);
      case 'tap':
        return await tapCommand(command, io);
      case 'check':
        return await checkCommand(command, io);
    }
  } catch (err) {
    if (!(err instanceof AdminUnavailable)) throw err;
    io.err(`mesh-sidecar ${name}: ${err.message}\n`);
    return 1;
  }
}
