/** Problems the portal answers with (RFC 9457), thrown by the portal's services and sent by its routes. */
import type { PortalFieldError, PortalProblem, PortalProblemType } from '../../../common/src/portal-api.ts';

export class PortalProblemError extends Error {
  override name = 'PortalProblemError';
  readonly problem: PortalProblem;
  readonly headers: Record<string, string>;

  constructor(kind: string, status: number, title: string, detail?: string, headers: Record<string, string> = {}) {
    super(title);
    this.problem = { type: `urn:sealpost:problem:${kind}` as PortalProblemType, title, status, ...(detail ? { detail } : {}) };
    this.headers = headers;
  }
}

export const problems = {
  linkUnusable: () =>
    new PortalProblemError('link-unusable', 410, 'This link cannot be used', 'The link was already used, has expired or is not valid. You can ask for a new link.'),
  sessionRequired: () => new PortalProblemError('session-required', 401, 'Please open your link again', 'There is no active portal session in this browser.'),
  sessionIpChanged: () =>
    new PortalProblemError(
      'session-ip-changed',
      401,
      'Your network address changed',
      'For your protection this session only works from the network it was opened on. Ask for a fresh link to continue.',
    ),
  forbidden: (detail = 'Your role does not allow this.') => new PortalProblemError('forbidden', 403, 'Not allowed', detail),
  notFound: () => new PortalProblemError('not-found', 404, 'Not found', 'There is nothing here for you, or it was deleted.'),
  threadFull: (max: number) =>
    new PortalProblemError('thread-full', 409, 'This conversation is full', `A conversation holds at most ${max} messages. Please ask the sender to start a new one.`),
  repliesDisabled: () => new PortalProblemError('replies-disabled', 403, 'Replies are not possible', 'The sender asked for no replies to this message.'),
  tooLarge: (detail: string) => new PortalProblemError('too-large', 413, 'Too large', detail),
  rateLimited: (retryAfter: number) =>
    new PortalProblemError('rate-limited', 429, 'Too many requests', `Please wait ${retryAfter} seconds and try again.`, { 'retry-after': String(retryAfter) }),
  integrityFailed: () =>
    new PortalProblemError('integrity-failed', 409, 'The message failed its integrity check', 'The stored message was altered; it cannot be opened. The event was logged.'),
  expired: (detail = 'This message has expired or the sender withdrew access.') => new PortalProblemError('expired', 410, 'No longer available', detail),
  busy: (retryAfter: number) =>
    new PortalProblemError(
      'busy',
      503,
      'The portal is busy',
      `Many large messages are being opened right now. Please try again in ${retryAfter} seconds.`,
      { 'retry-after': String(retryAfter) },
    ),
  /** 409: not possible as things are (a row of the tenant file, the last owner); the detail says what to do instead. */
  conflict: (detail: string) => new PortalProblemError('conflict', 409, 'This cannot be changed here', detail),
  invalid: (detail: string) => new PortalProblemError('invalid-request', 400, 'The request is not valid', detail),
  /** A refused settings change: every wrong field, in the detail one a line and in `errors` for the page to show next to each. */
  invalidFields: (errors: PortalFieldError[], title = 'The settings were not changed') => {
    const refused = new PortalProblemError('invalid-request', 400, title, errors.map((e) => e.message).join('\n'));
    refused.problem.errors = errors;
    return refused;
  },
  secondFactorRequired: () =>
    new PortalProblemError(
      'second-factor-required',
      403,
      'Confirm it is you',
      'This message asks for your second factor: a code from your authenticator app, a passkey or a recovery code.',
    ),
  organisationSignInUnavailable: (domain: string) =>
    new PortalProblemError(
      'organisation-sign-in-unavailable',
      403,
      'No organisation sign-in for this address',
      `The organisation of ${domain} does not sign in to Sealpost with Entra ID. Ask for a sign-in link by e-mail instead, or ask your administrator to set up Entra ID sign-in.`,
    ),
  /** The ID token was refused; `reason` names the check (the token validator's code), `detail` says it in words. */
  organisationSignInFailed: (reason: string, detail: string) => {
    const refused = new PortalProblemError('organisation-sign-in-failed', 401, 'The organisation sign-in could not be confirmed', `${detail}. Please sign in again.`);
    refused.problem.reason = reason;
    return refused;
  },
  organisationNotAllowed: (detail: string) =>
    new PortalProblemError('organisation-not-allowed', 403, 'Your organisation is not connected to Sealpost', `${detail}. Sign in with an account of your organisation's own Entra ID.`),
  notAMember: (detail: string) => new PortalProblemError('not-a-member', 403, 'This account may not sign in here', detail),
  organisationSignInRequired: () =>
    new PortalProblemError(
      'organisation-sign-in-required',
      403,
      'Please use your organisation sign-in',
      'Your organisation lets members with a console role in only with their organisation account. On the start page, choose "Sign in with your organisation account (Microsoft)".',
    ),
  secondFactorInvalid: (detail = 'The code did not match. Check the time on your device and try the newest code.') =>
    new PortalProblemError('second-factor-invalid', 400, 'That did not match', detail),
};
