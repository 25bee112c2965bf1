/** Outbound checks without a network: address ranges, URL checks, and the connect-time lookup. */
import type { LookupAddress } from 'node:dns';
import { guardedLookup } from '../../activities/http/outbound';
import { addressAllowed, checkUrl, hostAllowed, OutboundRefused } from '../../src/core/hosts';

test('only public unicast addresses pass by default, in every IPv6 form that carries an IPv4 one', () => {
  for (const a of ['8.8.8.8', '2606:4700::1', '::ffff:8.8.8.8']) expect([a, addressAllowed(a)]).toEqual([a, true]);
  const refused = [
    '127.0.0.1',
    '127.1.2.3',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '100.64.0.1', // CGNAT
    '169.254.169.254', // cloud metadata
    '224.0.0.1',
    '255.255.255.255',
    '0.0.0.0',
    '::1',
    '::',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    '::7f00:1', // IPv4-compatible
    '64:ff9b::7f00:1', // NAT64
    '2002:7f00:1::', // 6to4
    'not-an-address',
  ];
  for (const a of refused) expect([a, addressAllowed(a)]).toEqual([a, false]);
});

test('configured networks open exactly what they hold, mapped forms included', () => {
  expect(addressAllowed('127.0.0.1', ['127.0.0.0/8'])).toBe(true);
  expect(addressAllowed('::ffff:127.0.0.1', ['127.0.0.0/8'])).toBe(true);
  expect(addressAllowed('10.0.0.1', ['127.0.0.0/8'])).toBe(false);
  expect(addressAllowed('::1', ['127.0.0.0/8'])).toBe(false);
  expect(addressAllowed('::1', ['::1/128'])).toBe(true);
  expect(addressAllowed('10.2.3.4', ['10.0.0.0/8'])).toBe(true);
});

test('URLs: https by default, no credentials, allowed hosts and ports, literal addresses checked', () => {
  const policy = { allowedHosts: ['api.example.com', '*:*'] };
  const refusal = (u: string, p: Parameters<typeof checkUrl>[1] = policy) => {
    try {
      checkUrl(new URL(u), p);
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(OutboundRefused);
      return (err as Error).message;
    }
  };
  expect(refusal('https://api.example.com/x')).toBeUndefined();
  expect(refusal('http://api.example.com/x')).toMatch(/https only/);
  expect(refusal('http://api.example.com/x', { ...policy, insecureHosts: ['api.example.com'] })).toBeUndefined();
  expect(refusal('https://user:pass@api.example.com/x')).toMatch(/credentials/);
  expect(refusal('https://token@api.example.com/x')).toMatch(/credentials/);
  expect(refusal('https://169.254.169.254/latest/meta-data/')).toMatch(/not allowed/);
  expect(refusal('https://[::ffff:127.0.0.1]/')).toMatch(/not allowed/);
  expect(refusal('https://[fd00::1]:8443/')).toMatch(/not allowed/);
  expect(refusal('https://0x7f.1/')).toMatch(/127\.0\.0\.1 is not allowed/); // WHATWG URL normalises it
  expect(refusal('https://other.example/', { allowedHosts: ['api.example.com'] })).toMatch(/allowed hosts/);
  expect(refusal('ftp://api.example.com/', policy)).toMatch(/not allowed/);
});

test('hostAllowed: a pattern without a port allows the default port only; :port and :* open others', () => {
  const u = (s: string) => new URL(s);
  expect(hostAllowed(u('https://api.example.com/x'), ['api.example.com'])).toBe(true);
  expect(hostAllowed(u('https://api.example.com:8443/x'), ['api.example.com'])).toBe(false);
  expect(hostAllowed(u('https://api.example.com:8443/x'), ['api.example.com:8443'])).toBe(true);
  expect(hostAllowed(u('https://api.example.com:8443/x'), ['api.example.com:*'])).toBe(true);
  expect(hostAllowed(u('https://api.example.com./x'), ['api.example.com'])).toBe(true);
  expect(hostAllowed(u('https://a.example.com:444'), ['*.example.com'])).toBe(false);
  expect(hostAllowed(u('https://anything.example'), ['*'])).toBe(true);
  expect(hostAllowed(u('http://[::1]:9000/'), ['[::1]:*'])).toBe(true);
});

/** Calls the lookup hook as net.connect does (Node 20 asks for every address when it races families). */
function lookupOnce(lookup: ReturnType<typeof guardedLookup>, host: string) {
  return new Promise<LookupAddress[]>((resolve, reject) =>
    lookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses as LookupAddress[]))),
  );
}

test('DNS rebinding: the lookup resolves once and hands the socket exactly the address it checked', async () => {
  // A rebinding name: public on the first answer, loopback on the next.
  const answers = ['93.184.215.14', '127.0.0.1'];
  let calls = 0;
  const lookup = guardedLookup({
    allowedHosts: ['*'],
    resolve: async () => [{ address: answers[calls++], family: 4 }],
  });
  expect(await lookupOnce(lookup, 'rebind.example')).toEqual([{ address: '93.184.215.14', family: 4 }]);
  expect(calls).toBe(1); // the socket connects to this answer; nothing resolves again between check and connect
  await expect(lookupOnce(lookup, 'rebind.example')).rejects.toThrow(/resolves to 127\.0\.0\.1/);
  // A name with one bad answer among good ones is refused outright.
  const mixed = guardedLookup({
    allowedHosts: ['*'],
    resolve: async () => [
      { address: '93.184.215.14', family: 4 },
      { address: '::ffff:169.254.169.254', family: 6 },
    ],
  });
  await expect(lookupOnce(mixed, 'mixed.example')).rejects.toBeInstanceOf(OutboundRefused);
});
