/**
 * A DNS server for tests that answers exactly what the test says, down to the byte: each query is
 * answered by `answer(question)`, which returns records to encode or raw bytes to send as they are
 * (a malformed message, a truncated one). dnsmasq serves well-formed records only; this serves the
 * broken ones a resolver must survive.
 */
import { createSocket, type Socket } from 'node:dgram';

export type DnsRecord = { type: 'A'; address: string; ttl?: number } | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl?: number };

export interface DnsQuestion {
  name: string;
  /** 1 A, 28 AAAA, 33 SRV, ... */
  type: number;
}

export type DnsAnswer = DnsRecord[] | { raw: (queryId: Buffer) => Buffer } | { rcode: number };

export interface FakeDns {
  /** `127.0.0.1:<port>`, for a resolver's nameservers. */
  readonly nameserver: string;
  answer: (question: DnsQuestion) => DnsAnswer;
  close(): Promise<void>;
}

export async function startFakeDns(answer: FakeDns['answer']): Promise<FakeDns> {
  const socket: Socket = createSocket('udp4');
  const dns: FakeDns = {
    nameserver: '',
    answer,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (query, peer) => {
    const question = readQuestion(query);
    if (!question) return;
    const reply = dns.answer(question.question);
    const message = 'raw' in reply ? reply.raw(query.subarray(0, 2)) : encodeReply(query, question.end, 'rcode' in reply ? reply.rcode : 0, 'rcode' in reply ? [] : reply);
    socket.send(message, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  (dns as { nameserver: string }).nameserver = `127.0.0.1:${socket.address().port}`;
  return dns;
}

function readQuestion(query: Buffer): { question: DnsQuestion; end: number } | undefined {
  let at = 12;
  const labels: string[] = [];
  while (at < query.length && query[at]! > 0) {
    labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString('latin1'));
    at += 1 + query[at]!;
  }
  if (at + 5 > query.length) return undefined;
  return { question: { name: labels.join('.'), type: query.readUInt16BE(at + 1) }, end: at + 5 };
}

export function encodeName(name: string): Buffer {
  const labels = name.split('.').filter((l) => l.length > 0);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([Math.min(63, l.length)]), Buffer.from(l.slice(0, 63), 'latin1')])), Buffer.from([0])]);
}

function encodeReply(query: Buffer, questionEnd: number, rcode: number, records: DnsRecord[]): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const answers = records.map((record) => {
    const rdata =
      record.type === 'A'
        ? Buffer.from(record.address.split('.').map(Number))
        : Buffer.concat([u16(record.priority), u16(record.weight), u16(record.port), encodeName(record.target)]);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(record.type === 'A' ? 1 : 33, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(record.ttl ?? 30, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    // The owner name points back at the question's (offset 12).
    return Buffer.concat([Buffer.from([0xc0, 0x0c]), fixed, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}
