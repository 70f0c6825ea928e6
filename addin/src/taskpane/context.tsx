import { createContext, useContext } from 'react';
import type { AddinSettings } from '../../../common/src/addin-api.ts';
import type { AddinApi } from '../shared/api.ts';
import type { Language, Translate } from '../shared/i18n.ts';

export interface PaneContext {
  language: Language;
  t: Translate;
  api: AddinApi;
  settings: AddinSettings;
}

const Context = createContext<PaneContext | undefined>(undefined);
export const PaneProvider = Context.Provider;

export function usePane(): PaneContext {
  const value = useContext(Context);
  if (!value) throw new Error('usePane outside PaneProvider');
  return value;
}
