import { createRoot } from 'react-dom/client';
import { ComposeWindow } from './ComposeWindow.tsx';

createRoot(document.getElementById('root')!).render(<ComposeWindow />);
