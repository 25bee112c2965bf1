/**
 * Checking the votes of an audit trail offline (`airlock audit verify`): every `approval.vote` event must carry an
 * attestation signed by a channel key the job trusted, and say what the attestation says (person, groups, channel,
 * decision, digest, comment), for a request the trail shows being asked under the attested policy version.
 *
 * The keys are those recorded in the trail's `job.submitted` event, or a keyring the auditor trusts. The recorded
 * keys are as trustworthy as the trail: they are in its first event, which the hash chain and the signed head cover,
 * so changing them breaks the chain (checked before the votes).
 */
import { AuditEventType, type AuditEventInput } from '../core/audit';
import type { RecordedVote } from '../core/approval';
import { commentDigest, verifyAttestation, type AttestationKey } from '../core/attestation';

/** An event of a trail, as far as the votes' check reads it. */
type TrailEvent = AuditEventInput & { seq: number };

export type VoteVerification =
  | { ok: true; votes: number; attested: number; keys: 'keyring' | 'trail' }
  | { ok: false; seq: number; key: string; type: string; reason: string };

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Verifies every vote's attestation; jobs started before attestations (no keys in the trail) are reported as such. */
export function verifyVotes(events: TrailEvent[], keyring?: AttestationKey[]): VoteVerification {
  const submitted = events.find((e) => e.type === AuditEventType.JobSubmitted);
  const recorded = (submitted?.data as { attestationKeys?: AttestationKey[] } | undefined)?.attestationKeys;
  const keys = keyring ?? recorded;
  // policyHash and requestedAt of each round a request was asked (asked again after a policy change: more rounds).
  const asked = events
    .filter((e) => e.type === AuditEventType.ApprovalRequested || e.type === AuditEventType.ApprovalEscalated)
    .map((e) => e.data as { id: string; policyHash: string; requestedAt: string });
  let votes = 0;
  let attested = 0;
  for (const e of events) {
    if (e.type !== AuditEventType.ApprovalVote) continue;
    votes++;
    const fail = (reason: string): VoteVerification => ({ ok: false, seq: e.seq, key: e.key, type: e.type, reason });
    const vote = e.data as unknown as RecordedVote;
    if (!vote.attestation) {
      // A job started before votes were attested trusts no keys: its votes are as they were, claims.
      if (!recorded && !keyring) continue;
      return fail(`the vote by ${vote.approver} carries no attestation`);
    }
    if (!keys) return fail('no channel keys to check the attestation against (none in the trail, no keyring)');
    const check = verifyAttestation(vote.attestation, keys);
    if (!check.ok) return fail(check.reason);
    const p = check.payload;
    const differs: string[] = [];
    if (p.person !== vote.approver || e.actor !== p.person) differs.push('person');
    if (!sameList(p.groups, vote.approverGroups)) differs.push('groups');
    if (p.channel !== vote.channel) differs.push('channel');
    if (p.decision !== vote.decision) differs.push('decision');
    if (p.digest !== vote.digest) differs.push('digest');
    if (p.requestId !== vote.requestId) differs.push('request');
    if (commentDigest(vote.comment ?? undefined) !== p.commentDigest) differs.push('comment');
    if (differs.length) return fail(`the recorded vote differs from its attestation in: ${differs.join(', ')}`);
    if (!asked.some((r) => r.id === p.requestId && r.policyHash === p.policyHash))
      return fail(`no request ${p.requestId} was asked under policy ${p.policyHash}`);
    attested++;
  }
  return { ok: true, votes, attested, keys: keyring ? 'keyring' : 'trail' };
}
