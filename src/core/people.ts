/**
 * People as channels and the workflow's checks see them: an id, groups, and the identity they use on each channel.
 * src/people.ts loads them from the people file; channels receive a PeopleDirectory from the composition root.
 */
export interface Person {
  id: string;
  name?: string;
  groups: string[];
  /** Slack user id (U…/W…). */
  slack?: string;
  /** GitHub login. */
  github?: string;
  /** Email address, as the console's authenticating proxy names the person (X-Forwarded-Email). */
  email?: string;
  /** SHA-256 (hex) of the person's API token. */
  tokenSha256?: string;
}

/** Who is who, as the approval channels need it. */
export interface PeopleDirectory {
  person(id: string): Person | undefined;
  bySlack(userId: string): Person | undefined;
  byGithub(login: string): Person | undefined;
  /** People in any of these groups. */
  members(groups: string[]): Person[];
}
