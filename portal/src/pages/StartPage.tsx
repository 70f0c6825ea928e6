/** The start page: readers are sent to their inbox; everybody else learns how to get in. */
import { useEffect, useState, type FormEvent } from 'react';
import { Body1, Button, Field, Input, Spinner, Subtitle1, makeStyles } from '@fluentui/react-components';
import type { SignInRequest } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { navigate } from '../router.ts';
import { useSession } from '../session.tsx';
import { Notice, PageTitle, usePageStyles } from './common.tsx';

const useStyles = makeStyles({
  // Full width on a phone, room for a long address on a large screen.
  form: { alignSelf: 'stretch', maxWidth: '30rem' },
  field: { alignSelf: 'stretch' },
});

export function StartPage() {
  const own = useStyles();
  const { t } = useI18n();
  const styles = usePageStyles();
  const { session } = useSession();
  const [email, setEmail] = useState('');
  const [state, setState] = useState<{ kind: 'idle' | 'sending' | 'sent' | 'redirecting' } | { kind: 'failed'; message: string }>({ kind: 'idle' });

  useEffect(() => {
    if (session) navigate('/portal/threads', { replace: true });
  }, [session]);
  if (session === undefined || session) return <Spinner label={t('loading')} />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setState({ kind: 'sending' });
    try {
      const body: SignInRequest = { email: email.trim() };
      await api.post('/api/portal/sign-in', body, { quiet: true });
      setState({ kind: 'sent' });
    } catch (error) {
      setState({ kind: 'failed', message: problemText(error, t) });
    }
  };

  const signInWithOrganisation = async () => {
    const address = email.trim();
    if (!address) {
      setState({ kind: 'failed', message: t('entraSignInNeedsAddress') });
      return;
    }
    setState({ kind: 'redirecting' });
    try {
      // Only this button loads MSAL (its own script file): nothing else on the page needs it.
      const { startEntraSignIn } = await import(/* webpackChunkName: "entra-sign-in" */ '../entra-sign-in.ts');
      await startEntraSignIn(address);
    } catch (error) {
      setState({ kind: 'failed', message: problemText(error, t) });
    }
  };

  return (
    <div className={styles.stack}>
      <PageTitle>{t('startTitle')}</PageTitle>
      <Body1 as="p">{t('startBody')}</Body1>
      <section aria-labelledby="sign-in-heading" className={`${styles.stack} ${styles.wide}`}>
        <Subtitle1 as="h2" id="sign-in-heading">
          {t('signInTitle')}
        </Subtitle1>
        <Body1 as="p">{t('signInBody')}</Body1>
        <form onSubmit={(e) => void submit(e)} className={`${styles.stack} ${own.form}`}>
          <Field label={t('emailLabel')} required className={own.field}>
            <Input type="email" autoComplete="email" value={email} onChange={(_, data) => setEmail(data.value)} />
          </Field>
          <Button type="submit" appearance="primary" disabled={state.kind === 'sending' || state.kind === 'redirecting' || !email.trim()}>
            {t('signInButton')}
          </Button>
          <Body1 as="p">{t('orSeparator')}</Body1>
          <Button type="button" appearance="secondary" disabled={state.kind === 'redirecting'} onClick={() => void signInWithOrganisation()}>
            {t('entraSignInButton')}
          </Button>
          <Body1 as="p">{t('entraSignInHint')}</Body1>
        </form>
        {state.kind === 'sent' && <Notice intent="success">{t('signInSent')}</Notice>}
        {state.kind === 'failed' && <Notice intent="error">{state.message}</Notice>}
      </section>
    </div>
  );
}
