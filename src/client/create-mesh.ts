/**
 * A Mesh is a set of named meshClients plus one Dispatcher that routes by host name to them, so that
 * `setGlobalDispatcher(mesh.dispatcher)` sends every `fetch('http://reviews/...')` in the process
 * through the mesh while other hosts go out untouched (or are refused, with `unknownHosts: 'refuse'`).
 */
import { getGlobalDispatcher, type Dispatcher } from 'undici';
import { MeshError } from '../core/errors.js';
import type { ClientCodeOptions, MeshClientOptions } from './client-options.js';
import { meshClient, type MeshClient } from './mesh-client.js';
import { MeshDispatcher } from './mesh-dispatcher.js';

export interface MeshOptions extends ClientCodeOptions {
  /** Each service's options, by service name (the host name requests use). */
  services: Record<string, MeshClientOptions>;
  /** What the dispatcher does with hosts that are not mesh services. Default `passthrough`. */
  unknownHosts?: 'passthrough' | 'refuse';
  /** Where passed-through requests go. Default: undici's global dispatcher when the mesh was created. */
  fallback?: Dispatcher;
}

export interface Mesh {
  readonly dispatcher: Dispatcher;
  client(name: string): MeshClient;
  services(): string[];
  close(): Promise<void>;
}

export function createMesh(options: MeshOptions): Mesh {
  if (options === null || typeof options !== 'object' || typeof options.services !== 'object' || options.services === null) {
    throw new MeshError('INVALID_OPTIONS', 'createMesh: give { services: { <name>: { endpoints | discovery, ... } } }');
  }
  const unknownHosts = options.unknownHosts ?? 'passthrough';
  if (unknownHosts !== 'passthrough' && unknownHosts !== 'refuse') {
    throw new MeshError('INVALID_OPTIONS', `createMesh: unknownHosts must be 'passthrough' or 'refuse', got ${JSON.stringify(unknownHosts)}`);
  }
  const { clock, random, logger, stack } = options;
  const shared: ClientCodeOptions = {};
  if (clock) shared.clock = clock;
  if (random) shared.random = random;
  if (logger) shared.logger = logger;
  if (stack) shared.stack = stack;

  const clients = new Map<string, MeshClient>();
  try {
    for (const [name, serviceOptions] of Object.entries(options.services)) {
      clients.set(name.toLowerCase(), meshClient(name, { ...shared, ...serviceOptions }));
    }
  } catch (err) {
    for (const client of clients.values()) void client.close();
    throw err;
  }

  const fallback = unknownHosts === 'passthrough' ? (options.fallback ?? getGlobalDispatcher()) : undefined;
  const dispatcher = new MeshDispatcher((hostname) => clients.get(hostname), fallback ? { fallback } : {});
  return {
    dispatcher,
    client(name) {
      const client = clients.get(name.toLowerCase());
      if (!client) {
        throw new MeshError('UNKNOWN_SERVICE', `the mesh has no service "${name}"; it has: ${[...clients.keys()].join(', ') || '(none)'}`, { service: name });
      }
      return client;
    },
    services: () => [...clients.keys()],
    async close() {
      await dispatcher.close();
      await Promise.all([...clients.values()].map((c) => c.close()));
    },
  };
}
