/**
 * Development credentials: the people file and bearer tokens published in README for `airlock dev`. Anyone can read
 * them, so `airlock serve` and `airlock worker` refuse to start with them unless started for development (`airlock
 * dev`, or AIRLOCK_ALLOW_DEV_CREDENTIALS=1, which the tests set). The one list of them is here.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hashToken, type Directory } from '../people';
import { projectRoot } from '../temporal/binaries';

/** The tokens README publishes (`dev-<id>-token`); config/people.yaml holds their hashes. */
export const DEV_TOKENS = [
  'dev-alice-token',
  'dev-bob-token',
  'dev-carol-token',
  'dev-dave-token',
  'dev-ci-token',
  // The development MCP agent (config/people.yaml `agents:`).
  'dev-deploy-bot-token',
];

/** The development people file, and the SHA-256 of its content as published (so a copy elsewhere is known too). */
export const DEV_PEOPLE_FILE = join(projectRoot, 'config', 'people.yaml');
export const DEV_PEOPLE_FILE_SHA256 = '90e620effbd1fabe3988a3dcb0d279ad4432531cefca3a2ff53d8a741ce5574a';

const DEV_TOKEN_BY_HASH = new Map(DEV_TOKENS.map((t) => [hashToken(t), t]));

/** The variable that lets a process other than `airlock dev` start with development credentials (tests). */
export const ALLOW_DEV_CREDENTIALS = 'AIRLOCK_ALLOW_DEV_CREDENTIALS';

/** What in this people file and directory is a published development credential; empty when nothing is. */
export function devCredentialProblems(peopleFile: string | undefined, directory: Directory): string[] {
  const problems: string[] = [];
  if (peopleFile) {
    if (resolve(peopleFile) === DEV_PEOPLE_FILE) {
      problems.push(`${peopleFile} is the development people file (its tokens are published in README)`);
    } else {
      let sha: string | undefined;
      try {
        sha = createHash('sha256').update(readFileSync(peopleFile)).digest('hex');
      } catch {
        // Unreadable: loading the directory reports it.
      }
      if (sha === DEV_PEOPLE_FILE_SHA256)
        problems.push(`${peopleFile} is a copy of the development people file (its tokens are published in README)`);
    }
  }
  for (const { kind, id, tokenSha256 } of directory.tokenHashes()) {
    const token = DEV_TOKEN_BY_HASH.get(tokenSha256);
    if (token) problems.push(`${kind} ${id} has the published development token ${token}`);
  }
  return problems;
}
