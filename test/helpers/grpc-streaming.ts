/**
 * The streaming methods the gRPC tests share, with raw-bytes messages so no .proto is needed:
 * count (server streaming: 1..n), sum (client streaming: the total) and chat (bidirectional: one
 * reply per message, as each arrives, which only works if every hop streams both ways).
 */
import type * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer) => b;

export function streamingMethods(pkg: string): grpc.ServiceDefinition {
  const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
    path: `/${pkg}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  });
  return { count: method('Count', false, true), sum: method('Sum', true, false), chat: method('Chat', true, true) };
}

export const streamingHandlers = {
  count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
    for (let i = 1; i <= Number(call.request.toString()); i++) call.write(Buffer.from(String(i)));
    call.end();
  },
  sum: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    let total = 0;
    call.on('data', (m: Buffer) => (total += Number(m.toString())));
    call.on('end', () => callback(null, Buffer.from(String(total))));
  },
  chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
    call.on('data', (m: Buffer) => call.write(Buffer.from(`re: ${m.toString()}`)));
    call.on('end', () => call.end());
  },
};
