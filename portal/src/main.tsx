import { createRoot } from 'react-dom/client';
import { FluentProvider, Title1, Body1, webLightTheme } from '@fluentui/react-components';

function Portal() {
  return (
    <FluentProvider theme={webLightTheme}>
      <main>
        <Title1 as="h1">Sealpost</Title1>
        <Body1>Open the link from your notification to read your secure message.</Body1>
      </main>
    </FluentProvider>
  );
}

createRoot(document.getElementById('root')!).render(<Portal />);
