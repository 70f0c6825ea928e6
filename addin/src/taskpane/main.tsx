import { createRoot } from 'react-dom/client';
import { FluentProvider, Title2, webLightTheme } from '@fluentui/react-components';

createRoot(document.getElementById('root')!).render(
  <FluentProvider theme={webLightTheme}>
    <Title2 as="h1">Sealpost</Title2>
  </FluentProvider>,
);
