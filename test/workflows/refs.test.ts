import { findRefs, parseRef, RefResolutionError, resolveRefs } from '../../src/core/refs';

test('parseRef accepts steps.<id>.output[.path] only', () => {
  expect(parseRef('steps.pr.output.number')).toEqual({ stepId: 'pr', outputPath: ['number'] });
  expect(parseRef('steps.pr.output')).toEqual({ stepId: 'pr', outputPath: [] });
  expect(parseRef('steps.pr.input.x')).toBeUndefined();
  expect(parseRef('steps..output')).toBeUndefined();
});

test('findRefs locates nested refs, and only single-key {$ref} objects count', () => {
  const input = {
    a: { $ref: 'steps.x.output' },
    list: [1, { deep: { $ref: 'steps.y.output.z' } }],
    other: { $ref: 'steps.x.output', extra: 1 },
  };
  expect(findRefs(input)).toEqual([
    { path: ['a'], ref: 'steps.x.output' },
    { path: ['list', 1, 'deep'], ref: 'steps.y.output.z' },
  ]);
});

test('resolveRefs replaces refs with outputs and fails with a clear message on a missing field', () => {
  const outputs = { x: { sha: 'abc', nested: { n: 3 } } };
  expect(resolveRefs({ a: { $ref: 'steps.x.output.nested.n' }, keep: 'y' }, outputs)).toEqual({ a: 3, keep: 'y' });
  expect(() => resolveRefs({ a: { $ref: 'steps.x.output.missing' } }, outputs)).toThrow(RefResolutionError);
  expect(() => resolveRefs({ a: { $ref: 'steps.x.output.missing' } }, outputs)).toThrow('no field "missing"');
  expect(() => resolveRefs({ a: { $ref: 'steps.q.output' } }, outputs)).toThrow('step "q" has no output yet');
});
