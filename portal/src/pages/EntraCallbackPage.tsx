/** Where Entra ID sends the browser back after the organisation sign-in: finishes it and opens the console or inbox. */
import { useEffect, useRef, useState } from 'react';
import { Link, Spinner } from '@fluentui/react-components';
import { goAfterSignIn } from '../after-sign-in.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { navigate } from '../router.ts';
import { canReadPolicies, useSession } from '../session.tsx';
import { Notice, PageTitle, usePageStyles } from './common.tsx';

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
      <Notice intent="error">{problemText(failure.error, t)}</Notice>
      <Link href="/portal/">{t('entraBackToStart')}</Link>
    </div>
  );
}
