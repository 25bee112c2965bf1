import { ConfigError, loadConfig } from '../src/config';

test('defaults describe the embedded stack', () => {
  const c = loadConfig({});
  expect(c.temporal).toEqual({
    address: '127.0.0.1:7233',
    namespace: 'default',
    taskQueue: 'airlock',
    uiPort: 8233,
    uiUrl: 'http://localhost:8233',
  });
  expect(c.http).toEqual({ allowedHosts: [], insecureHosts: [], allowedNetworks: [], callbackHosts: ['*'] });
});

test('outbound: private networks are opted into as CIDRs, and a bad one names its variable', () => {
  const c = loadConfig({
    AIRLOCK_HTTP_INSECURE_HOSTS: '127.0.0.1:*',
    AIRLOCK_HTTP_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
  });
  expect(c.http).toMatchObject({ insecureHosts: ['127.0.0.1:*'], allowedNetworks: ['127.0.0.0/8', '::1/128'] });
  expect(() => loadConfig({ AIRLOCK_HTTP_ALLOWED_NETWORKS: '10.0.0.0' })).toThrow(
    /AIRLOCK_HTTP_ALLOWED_NETWORKS: must be CIDRs/,
  );
});

test('lists are split and trimmed', () => {
  expect(loadConfig({ AIRLOCK_HTTP_ALLOWED_HOSTS: 'a.com, *.b.com ,' }).http.allowedHosts).toEqual([
    'a.com',
    '*.b.com',
  ]);
});

test('a bad value names its variable', () => {
  expect(() => loadConfig({ AIRLOCK_TEMPORAL_ADDRESS: 'nohost', AIRLOCK_TEMPORAL_UI_PORT: 'x' })).toThrow(ConfigError);
  expect(() => loadConfig({ AIRLOCK_TEMPORAL_ADDRESS: 'nohost' })).toThrow(
    /AIRLOCK_TEMPORAL_ADDRESS: must be host:port/,
  );
});

test('the audit signing key may come on one line, with \\n for its line breaks (env files)', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n';
  expect(loadConfig({ AIRLOCK_AUDIT_SIGNING_KEY: pem.replace(/\n/g, '\\n') }).audit.signingKey).toBe(pem);
  expect(loadConfig({ AIRLOCK_AUDIT_SIGNING_KEY: pem }).audit.signingKey).toBe(pem);
});
