/**
 * A response made up inside the mesh (an injected abort today), shaped like any other: statusCode,
 * headers, and a body with the text/json/dump mixins.
 */
import { STATUS_CODES } from 'node:http';
import { bufferedResponse, type MeshResponse } from '../http/mesh-response.js';

export function syntheticResponse(statusCode: number, headers: Record<string, string>, body: string): MeshResponse {
  const bytes = Buffer.from(body);
  return bufferedResponse(statusCode, STATUS_CODES[statusCode] ?? '', { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(bytes.length), ...headers }, bytes);
}
