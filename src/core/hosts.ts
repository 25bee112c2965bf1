/** Host allow-lists, judged the same way by the policy (facts) and by the `http.request` tool (at run time). */
/** `api.example.com`, `*.example.com` (subdomains only) or `127.0.0.1:8080` (that port only). */
export function hostAllowed(url: URL, allowed: string[]): boolean {
  const host = url.hostname.toLowerCase();
  return allowed.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p.includes(':')) return `${host}:${url.port || (url.protocol === 'https:' ? '443' : '80')}` === p;
    if (p.startsWith('*.')) return host.endsWith(p.slice(1));
    return host === p;
  });
}
