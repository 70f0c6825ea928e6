/**
 * Text messages through the tenant's SMS provider, for the password of a password PDF. The provider
 * interface is one HTTP request: POST of JSON {to, from, text} to the configured URL, with the bearer
 * token from the environment variable the tenant file names; any 2xx answer counts as accepted. It is
 * given a time limit, and what went wrong is returned, never thrown, so the caller can fall back.
 */
export interface SmsProviderSettings {
  url: string;
  tokenEnv?: string;
  from?: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;

export async function sendSms(settings: SmsProviderSettings, to: string, text: string, env: NodeJS.ProcessEnv = process.env): Promise<{ sent: true } | { sent: false; problem: string }> {
  const token = settings.tokenEnv ? env[settings.tokenEnv] : undefined;
  if (settings.tokenEnv && token === undefined) return { sent: false, problem: `${settings.tokenEnv} is not set: the SMS provider cannot be asked` };
  const timeout = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const answer = await fetch(settings.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ to, from: settings.from ?? 'Sealpost', text }),
      redirect: 'error',
      signal: AbortSignal.timeout(timeout),
    });
    await answer.body?.cancel();
    return answer.ok ? { sent: true } : { sent: false, problem: `the SMS provider answered HTTP ${answer.status}` };
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeout} ms` : String((error as Error).message ?? error).slice(0, 160);
    return { sent: false, problem: `the SMS provider could not be reached: ${reason}` };
  }
}
