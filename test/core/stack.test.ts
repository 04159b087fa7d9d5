import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshError } from '../../src/core/errors.js';
import { Param, Params } from '../../src/core/params.js';
import { newCallContext, type Service } from '../../src/core/service.js';
import { filterModule, Stack, type StackModule } from '../../src/core/stack.js';

type Req = string[];
const Tag = new Param<string>('tag', 'default-tag');

function tagging(role: string): StackModule<Req, string> {
  return {
    role,
    description: `appends ${role}`,
    make: (params, next) => ({
      call: (req, ctx) => next.call([...req, `${role}:${params.get(Tag)}`], ctx),
      close: () => next.close(),
    }),
  };
}

const terminal: Service<Req, string> = { call: async (req) => req.join(' > '), close: async () => {} };

test('modules run top to bottom and read params with defaults', async () => {
  const stack = new Stack([tagging('a'), tagging('b')]);
  const built = stack.build(Params.empty, terminal);
  assert.equal(await built.call([], newCallContext('svc')), 'a:default-tag > b:default-tag');
  const tagged = stack.build(Params.empty.with(Tag, 'x'), terminal);
  assert.equal(await tagged.call([], newCallContext('svc')), 'a:x > b:x');
});

test('stacks are edited by role without mutating the original', async () => {
  const base = new Stack([tagging('a'), tagging('c')]);
  const edited = base.insertBefore('c', tagging('b')).insertAfter('c', tagging('d')).prepend(tagging('top')).append(tagging('bottom'));
  assert.deepEqual(edited.roles(), ['top', 'a', 'b', 'c', 'd', 'bottom']);
  assert.deepEqual(base.roles(), ['a', 'c']);
  assert.deepEqual(edited.remove('a').replace('d', tagging('D')).roles(), ['top', 'b', 'c', 'D', 'bottom']);
  assert.match(edited.describe(), /^top\s+appends top$/m);
});

test('unknown roles and duplicate roles are clear errors', () => {
  const base = new Stack([tagging('a')]);
  assert.throws(() => base.remove('nope'), (err: unknown) => err instanceof MeshError && err.code === 'INVALID_OPTIONS' && /no module with role "nope"; roles are: a/.test(err.message));
  assert.throws(() => base.append(tagging('a')), /two modules with role "a"/);
});

test('filterModule wraps a plain filter function', async () => {
  const seen: string[] = [];
  const stack = new Stack<Req, string>([]).prepend(
    filterModule('audit', 'records services', async (req, ctx, next) => {
      seen.push(ctx.service);
      return (await next.call(req, ctx)).toUpperCase();
    }),
  );
  const built = stack.build(Params.empty, terminal);
  assert.equal(await built.call(['x'], newCallContext('reviews')), 'X');
  assert.deepEqual(seen, ['reviews']);
});
