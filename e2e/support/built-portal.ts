/** The browser tests of the portal serve the built portal (dist/portal), which npm test builds first. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { distFolder } from '../../backend/src/http/static-pages.ts';

/** Stops with a message that says what to run when the portal was not built. */
export function requireBuiltPortal(): void {
  const portalIndex = join(distFolder, 'portal', 'index.html');
  if (!existsSync(portalIndex)) {
    throw new Error(`${portalIndex} is missing: build the portal first with "npm run build -- --config-name portal"`);
  }
}
