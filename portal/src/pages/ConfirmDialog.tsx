/**
 * "Are you sure?" before something that cannot be undone. Its own file, not common.tsx: the dialog's
 * components are large, and the open page, which loads common.tsx, never needs them.
 */
import { Button, Dialog, DialogActions, DialogBody, DialogContent, DialogSurface, DialogTitle, DialogTrigger } from '@fluentui/react-components';
import { useI18n } from '../i18n.tsx';

/** The action, or Cancel. */
export function ConfirmDialog(props: { open: boolean; title: string; body: string; confirm: string; onConfirm: () => void; onClose: () => void }) {
  const { t } = useI18n();
  return (
    <Dialog open={props.open} onOpenChange={(_, data) => !data.open && props.onClose()}>
      <DialogSurface>
        <DialogBody>
          <DialogTitle>{props.title}</DialogTitle>
          <DialogContent>{props.body}</DialogContent>
          <DialogActions>
            <Button appearance="primary" onClick={props.onConfirm}>
              {props.confirm}
            </Button>
            <DialogTrigger disableButtonEnhancement>
              <Button appearance="secondary">{t('cancel')}</Button>
            </DialogTrigger>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
