/**
 * A plain keep-alive HTTP/1.1 app in python3's http.server, as a non-Node peer: it never upgrades
 * (it answers an `Upgrade` request like any other, which RFC 9110 §7.8 allows), and it records every
 * request it parsed (method, path, headers) so a test can see exactly what reached the app.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

export interface PythonApp {
  readonly address: string;
  /** Every request the app has parsed so far, in order. */
  readonly seen: SeenRequest[];
  stop(): Promise<void>;
}

const SCRIPT = String.raw`
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_one(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        seen = {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        sys.stdout.write(json.dumps(seen) + "\n")
        sys.stdout.flush()
        body = json.dumps({"app": "python", "path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
sys.stdout.write("READY %d\n" % server.server_address[1])
sys.stdout.flush()
server.serve_forever()
`;

export async function startPythonApp(): Promise<PythonApp> {
  const child: ChildProcess = spawn('python3', ['-u', '-c', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const seen: SeenRequest[] = [];
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('python3 http.server did not start within 10 s')), 10_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`python3 could not be started: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`python3 http.server exited with ${code} before it was ready`));
    });
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) {
        clearTimeout(timer);
        resolve(Number(line.slice(6)));
      } else if (line.startsWith('{')) seen.push(JSON.parse(line) as SeenRequest);
    });
  });
  return {
    address: `127.0.0.1:${port}`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
