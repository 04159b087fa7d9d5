/**
 * Starts a benchmark backend in a child process (the module run directly with its arguments) and
 * waits for the one JSON line it prints when listening, so the backends' timers and sockets never
 * share the measuring process's event loop.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export async function startChildServer<Info>(moduleUrl: string, args: (string | number)[], what: string): Promise<{ info: Info; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(moduleUrl), ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code})`)));
  });
  return { info: JSON.parse(line) as Info, stop: () => child.kill('SIGTERM') };
}
