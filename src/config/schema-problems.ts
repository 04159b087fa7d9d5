/**
 * Schema failures in words people can act on: one problem per unknown field (at the field, with a
 * did-you-mean from the fields allowed there), the deepest branch of a union, the value quoted.
 */
import { z } from 'zod';
import { formatPath } from '../core/field-path.js';
import { quoteValue } from '../core/quote-value.js';

export interface SchemaProblem {
  path: (string | number)[];
  message: string;
  /** The path ends at a field name (an unknown field) rather than a value. */
  key?: boolean;
}

/**
 * Turns zod issues into problems people can act on: one per unknown key (located at the key, with a
 * did-you-mean from the fields `schema` allows there), the deepest branch of a union, plain words.
 */
export function schemaProblems(schema: z.ZodTypeAny, issues: z.ZodIssue[], input: unknown): SchemaProblem[] {
  return issues.map(deepestUnionIssue).flatMap((issue): SchemaProblem[] =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [...issue.path, key], message: describeIssue(schema, { ...issue, keys: [key] }, input), key: true }))
      : [{ path: issue.path, message: describeIssue(schema, issue, input) }],
  );
}

/**
 * For `false | { ... }` style unions zod reports "invalid union" at the field; when one branch got
 * further into the value (an object with one bad field), that branch's issue is the useful one.
 */
function deepestUnionIssue(issue: z.ZodIssue): z.ZodIssue {
  if (issue.code !== 'invalid_union') return issue;
  let best: z.ZodIssue | undefined;
  for (const e of issue.unionErrors) for (const i of e.issues) if (i.path.length > issue.path.length && (!best || i.path.length > best.path.length)) best = i;
  return best ? deepestUnionIssue(best) : issue;
}

/**
 * Plain words for a zod issue. Every message names what was expected and quotes what was given (the
 * value at the issue's path in `input`), unless it is an unknown field (the name is what is wrong)
 * or a missing one (nothing was given).
 */
function describeIssue(schema: z.ZodTypeAny, issue: z.ZodIssue, input: unknown): string {
  const value = valueAt(input, issue.path);
  const alreadySaid = (message: string) => value === undefined || message.includes(', got ') || message.startsWith('unknown field ');
  const got = (message: string) => (alreadySaid(message) ? message : `${message}, got ${quoteValue(value)}`);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys
        .map((key) => {
          const suggestion = closest(key, allowedKeysAt(schema, issue.path, input));
          return `unknown field ${JSON.stringify(key)}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`;
        })
        .join('; ');
    case 'invalid_enum_value':
      return got(`expected one of ${issue.options.map((o) => `'${String(o)}'`).join(' | ')}`);
    case 'invalid_type':
      if (issue.received === 'undefined') return `required (${typeName(issue.expected)})`;
      // A field refused outright (z.never) carries its reason as the message.
      return got(issue.expected === 'never' ? issue.message : `expected ${typeName(issue.expected)}`);
    case 'invalid_literal':
      return got(`expected ${JSON.stringify(issue.expected)}`);
    case 'invalid_union': {
      // Report the branch that got furthest: the one whose first issue has the longest path.
      const best = [...issue.unionErrors].sort((a, b) => (b.issues[0]?.path.length ?? 0) - (a.issues[0]?.path.length ?? 0))[0];
      const first = best?.issues[0];
      if (first && first.path.length > issue.path.length) return `${formatPath(first.path.slice(issue.path.length))}: ${describeIssue(schema, first, input)}`;
      const branches = issue.unionErrors.map((e) => e.issues[0]).filter((i): i is z.ZodIssue => i !== undefined);
      const custom = branches.find((i) => i.code === 'custom');
      if (custom) return got(custom.message);
      // One branch took the value's type and found something else wrong: that is the problem.
      const typed = branches.filter((i) => i.code !== 'invalid_type' && i.code !== 'invalid_literal');
      if (typed.length === 1) return describeIssue(schema, typed[0]!, input);
      if (branches.every((i) => i.code === 'invalid_type' || i.code === 'invalid_literal')) {
        const expected = branches.map((i) => (i.code === 'invalid_type' ? typeName(i.expected) : JSON.stringify(i.code === 'invalid_literal' ? i.expected : undefined)));
        return got(`expected ${[...new Set(expected)].join(' or ')}`);
      }
      return got(`not a valid value (${[...new Set(branches.map((t) => describeIssue(schema, t, input)))].join('; or ')})`);
    }
    case 'too_small':
      if (issue.message.startsWith('expected')) return got(issue.message);
      if (issue.type === 'string') return got(Number(issue.minimum) <= 1 ? 'expected a non-empty string' : `expected at least ${issue.minimum} characters`);
      if (issue.type === 'array') return got(`expected at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`);
      return got(`expected a value ${issue.inclusive ? '>=' : 'above'} ${issue.minimum}`);
    case 'too_big':
      if (issue.message.startsWith('expected')) return got(issue.message);
      if (issue.type === 'string' || issue.type === 'array') return got(`expected at most ${issue.maximum} ${issue.type === 'string' ? 'characters' : 'items'}`);
      return got(`expected a value ${issue.inclusive ? '<=' : 'below'} ${issue.maximum}`);
    default:
      return got(issue.message);
  }
}

const TYPE_NAMES: Record<string, string> = { object: 'an object', array: 'a list', string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false' };

function typeName(zodType: string): string {
  return TYPE_NAMES[zodType] ?? zodType;
}

function valueAt(input: unknown, path: readonly (string | number)[]): unknown {
  let value = input;
  for (const step of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[step];
  }
  return value;
}

/** The field names a strict object accepts at `path`, to suggest the closest one. */
function allowedKeysAt(schema: z.ZodTypeAny, path: readonly (string | number)[], input: unknown): string[] {
  let current: z.ZodTypeAny | undefined = schema;
  let value: unknown = input;
  for (const step of path) {
    current = unwrapTo(current, value);
    if (current instanceof z.ZodObject) current = (current.shape as Record<string, z.ZodTypeAny>)[String(step)];
    else if (current instanceof z.ZodArray) current = current.element;
    else if (current instanceof z.ZodRecord) current = current.valueSchema;
    else return [];
    value = (value as Record<string | number, unknown> | undefined)?.[step];
  }
  current = unwrapTo(current, value);
  return current instanceof z.ZodObject ? Object.keys(current.shape as object) : [];
}

function unwrapTo(schema: z.ZodTypeAny | undefined, value: unknown): z.ZodTypeAny | undefined {
  let s = schema;
  for (let i = 0; i < 10 && s; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else if (s instanceof z.ZodLazy) s = s.schema;
    else if (s instanceof z.ZodUnion) {
      const options = s.options as z.ZodTypeAny[];
      s = options.find((o) => unwrapTo(o, value) instanceof z.ZodObject && typeof value === 'object' && value !== null) ?? options[0];
      s = unwrapTo(s, value);
      break;
    } else break;
  }
  return s;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
