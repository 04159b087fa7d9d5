import type { MeshClient } from '../../src/index.js';

/** Runs `fn` with the client and always closes it, so a failing assertion leaks no sockets. */
export async function withClient<T>(client: MeshClient, fn: (c: MeshClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
