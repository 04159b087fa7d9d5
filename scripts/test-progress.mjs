// Progress of a node:test run, for scripts/run-tests.mjs. The default export is a reporter that writes
// one JSON line each time a test file or a test in it starts or ends; readProgress() reads them back,
// so that the runner can say which files were running when it had to stop the run, and where in a
// file that timed out it was stuck (Node's own reporters only say that the file timed out as a
// whole). Node 20 passes on a file's test events only when the file ends, stopped or not.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const line = (event, data) =>
  JSON.stringify({
    event,
    at: Date.now(),
    file: data.file,
    name: data.name,
    nesting: data.nesting,
    line: data.line,
    timedOut: data.details?.error?.failureType === 'testTimeoutFailure',
  }) + '\n';

export default async function* testProgress(source) {
  for await (const { type, data } of source) {
    if (type === 'test:dequeue') yield line('start', data);
    else if (type === 'test:complete') yield line('end', data);
  }
}

/**
 * The files of a run by absolute path, in the order they started, each with when it started, whether
 * it ended (and by timing out), the tests still running in it and how many had finished.
 * The runner names each file as a test, so a test named after its own file is the file.
 */
export function readProgress(path) {
  const files = new Map();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return files;
  }
  for (const row of text.split('\n')) {
    let entry;
    try {
      entry = JSON.parse(row);
    } catch {
      continue; // an empty line, or the last one cut short when the run was killed
    }
    if (entry.name === entry.file) {
      if (entry.event === 'start') files.set(entry.file, { startedAt: entry.at, ended: false, timedOut: false, running: new Map(), finishedTests: 0 });
      else Object.assign(files.get(entry.file) ?? {}, { ended: true, timedOut: entry.timedOut });
      continue;
    }
    const file = files.get(entry.file);
    if (!file) continue;
    const key = `${entry.nesting}:${entry.line}:${entry.name}`;
    if (entry.event === 'start') file.running.set(key, entry);
    else if (file.running.delete(key)) file.finishedTests++;
  }
  return files;
}

/** Where a file that did not end was stuck, in words. */
export function whereStuck(path, file) {
  const shown = relative(process.cwd(), path);
  const running = [...file.running.values()].sort((a, b) => a.nesting - b.nesting);
  if (running.length > 0) return `it was still in ${running.map((t) => `'${t.name}' (${shown}:${t.line})`).join(', ')}, or in a hook run for it`;
  if (file.finishedTests > 0) {
    return 'every test in it had finished, but an after hook did not, or something it started (a server, socket, child process or timer) kept its process alive';
  }
  return 'no test in it had started: its top-level code or a before hook did not finish';
}
