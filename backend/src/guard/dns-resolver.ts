/** DNS for sender authentication, in mailauth's resolver shape. */
export function createDnsResolver(options: { servers?: string[]; timeoutMs: number }): (name: string, rrtype: string) => Promise<unknown> {
  void options;
  return async () => {
    throw Object.assign(new Error('DNS for sender authentication is not built yet'), { code: 'ENOTIMP' });
  };
}
