/**
 * What the fault suite's files share: the policy they run under (merges wait for people, everyday git actions are
 * allowed) and the job they submit (a branch, perhaps a commit, then a merge that waits for a vote).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import type { jobSchema } from '../../src/core/job-schema';

/**
 * A temp dir named `prefix…` holding policy.yaml: `git.merge` requires approval as `approval` says (a YAML flow map;
 * by default one sre within the hour over the API), the `allow` actions are allowed, anything else is denied.
 */
export function mergePolicy(
  prefix: string,
  opts: { allow: string[]; approval?: string; rule?: string },
): { dir: string; policy: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `version: 1
rules:
  - id: ${opts.rule ?? 'merge-needs-an-sre'}
    match: { action: git.merge }
    decision: require_approval
    approval: ${opts.approval ?? '{ groups: [sre], quorum: 1, timeout: 1h, channels: [api] }'}
  - id: everyday
    match: { action: [${opts.allow.join(', ')}] }
    decision: allow
`,
  );
  return { dir, policy };
}

/**
 * release-bot's job `title`: branch `branch` (off `from`, default main), with `commit` a commit of one file on it,
 * then merge it into main (which waits for a vote under mergePolicy).
 */
export function mergeJob(
  title: string,
  repo: string,
  branch: string,
  opts: { from?: string; commit?: { message: string; path: string; content: string } } = {},
): z.input<typeof jobSchema> {
  const { from, commit } = opts;
  return {
    agent: 'release-bot',
    title,
    steps: [
      { id: 'branch', action: 'git.create_branch', input: { repo, branch, ...(from ? { from } : {}) } },
      ...(commit
        ? [
            {
              id: 'commit',
              action: 'git.commit',
              input: { repo, branch, message: commit.message, files: [{ path: commit.path, content: commit.content }] },
            },
          ]
        : []),
      { id: 'merge', action: 'git.merge', input: { repo, source: branch, target: 'main' } },
    ],
  };
}
