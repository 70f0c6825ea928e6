/** Where Entra ID sends the browser back after the organisation sign-in: finishes it and opens the console or inbox. */
import { useEffect, useRef, useState } from 'react';
import { Link, Spinner } from '@fluentui/react-components';
import { goAfterSignIn } from '../after-sign-in.ts';
import { ApiProblem } from '../api.ts';
import { useI18n, type Translate } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { navigate } from '../router.ts';
import { canReadPolicies, useSession } from '../session.tsx';
import { Notice, PageTitle, usePageStyles } from './common.tsx';

/**
 * The gateway's refusals say what was wrong with the account; anything else went wrong before the gateway
 * was asked (Entra's own answer, such as access_denied for a user not assigned to the application, or a
 * return without a sign-in started in this tab): its code is shown, as that is what an admin looks up.
 */
function failureText(error: unknown, t: Translate): string {
  if (error instanceof ApiProblem) return problemText(error, t);
  return t('entraSignInNotCompleted', { detail: error instanceof Error && error.message ? error.message.slice(0, 300) : '—' });
}

export function EntraCallbackPage() {
  const { t } = useI18n();
  const styles = usePageStyles();
  const { adopt } = useSession();
  // The error itself, not its text: the text follows the language chosen on this page afterwards.
  const [failure, setFailure] = useState<{ error: unknown }>();
  // The code in the address may be redeemed once only: React's development double effects must not run it twice.
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void (async () => {
      try {
        const { finishEntraSignIn } = await import(/* webpackChunkName: "entra-sign-in" */ '../entra-sign-in.ts');
        const session = await finishEntraSignIn();
        adopt(session);
        if (!goAfterSignIn()) navigate(canReadPolicies(session.role) ? '/portal/admin/overview' : '/portal/threads', { replace: true });
      } catch (error) {
        setFailure({ error });
      }
    })();
  }, [adopt]);

  if (!failure) return <Spinner label={t('entraSigningIn')} />;
  return (
    <div className={styles.stack}>
      <PageTitle>{t('signInTitle')}</PageTitle>
      <Notice intent="error">{failureText(failure.error, t)}</Notice>
      <Link href="/portal/">{t('entraBackToStart')}</Link>
    </div>
  );
}
