/**
 * The tests' channel attestation key: testAirlock's API and Slack channels sign with it, and jobs the tests submit
 * trust its public keys (pass `attestationKeys` to submitJob).
 */
import { createAttestor, generateAttestationKey } from '../../src/attestation';

/** Generated per test process: never a key in the repository. */
export const testAttestationKeyPem = generateAttestationKey();
export const testAttestor = createAttestor(testAttestationKeyPem);
/** The public keys a test job trusts. */
export const attestationKeys = testAttestor.publicKeys();
