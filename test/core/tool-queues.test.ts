import { parseToolQueues, toolQueue } from '../../src/core/tool-queues';
import { loadConfig } from '../../src/config';

test('a tool runs on the queue of its exact name, else its family, else `*`, else none', () => {
  const q = parseToolQueues('shell=exec-prod, git=exec ,git.merge=exec-merge');
  expect(toolQueue(q, 'shell.run')).toBe('exec-prod');
  expect(toolQueue(q, 'git.commit')).toBe('exec');
  expect(toolQueue(q, 'git.merge')).toBe('exec-merge');
  expect(toolQueue(q, 'http.request')).toBeUndefined();
  expect(toolQueue(parseToolQueues('git=exec,*=exec-any'), 'http.request')).toBe('exec-any');
  expect(parseToolQueues('')).toEqual({});
});

test('a malformed routing names the bad entry and its variable', () => {
  expect(() => parseToolQueues('shell')).toThrow('"shell" is not <tool or family>=<task queue>');
  expect(() => parseToolQueues('git=a,git=b')).toThrow('"git" is routed twice');
  expect(() => parseToolQueues('gi*t=a')).toThrow('"gi*t=a" is not');
  expect(() => loadConfig({ AIRLOCK_TOOL_QUEUES: 'shell=' })).toThrow(/AIRLOCK_TOOL_QUEUES: "shell=" is not/);
  expect(loadConfig({ AIRLOCK_TOOL_QUEUES: '*=exec' }).toolQueues).toEqual({ '*': 'exec' });
});
