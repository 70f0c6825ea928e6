import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';
// @ts-expect-error eslint.config.js is plain JavaScript without type declarations
import { BACKEND_LAYERS } from '../../eslint.config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const layers = BACKEND_LAYERS as string[];

/** The import-layer problems ESLint reports for a text placed at a path of the repository. */
async function layerProblems(file: string, text: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(text, { filePath: `${root}${file}` });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => `${m.line}: ${m.message}`);
}

describe('the import layers of backend/src', () => {
  test('no file in backend/src or common imports from a layer above its own', async () => {
    const eslint = new ESLint({ cwd: root, errorOnUnmatchedPattern: false });
    const results = await eslint.lintFiles(['backend/src', 'common']);
    assert.ok(results.length > 100, `the check saw ${results.length} files; it must see the whole backend`);
    const problems = results.flatMap((result) =>
      result.messages
        .filter((message) => message.ruleId === 'no-restricted-imports' || message.fatal)
        .map((message) => `${result.filePath.slice(root.length)}:${message.line} ${message.message}`),
    );
    assert.deepEqual(problems, [], `imports that point up the layers:\n${problems.join('\n')}`);
  });

  test('every folder of backend/src has its place in the layer list, so none escapes the check', () => {
    const folders = readdirSync(`${root}backend/src`, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name !== 'types')
      .map((entry) => entry.name);
    assert.ok(folders.length >= 10, folders.join(', '));
    const unplaced = folders.filter((folder) => !layers.includes(folder));
    assert.deepEqual(unplaced, [], 'add new folders to BACKEND_LAYERS in eslint.config.js');
    assert.ok(layers.indexOf('http') < layers.indexOf('portal') && layers.indexOf('messages') < layers.indexOf('db'));
  });

  test('an import that points up fails the check, at any depth and for each kind of file', async () => {
    // The three back-pointing imports this check was written to remove.
    const stage = await layerProblems('backend/src/stages/probe.ts', "import { repliesToPortalMessage } from '../portal/threads.ts';\n");
    assert.equal(stage.length, 1, stage.join('\n'));
    assert.match(stage[0]!, /stages\/ sits below http, deployment, portal, delivery/);
    assert.equal((await layerProblems('backend/src/protect/probe.ts', "import type { Portal } from '../portal/portal.ts';\n")).length, 1);
    assert.equal((await layerProblems('backend/src/vault/probe.ts', "export { AuditLog } from '../audit/audit-log.ts';\n")).length, 1);
    // A nested folder climbs two levels.
    assert.equal((await layerProblems('backend/src/guard/checks/probe.ts', "import { guardStage } from '../../stages/guard.ts';\n")).length, 1);
    // Stateless message code may not reach the message store; the database may not reach a tenant.
    assert.equal((await layerProblems('backend/src/mail/probe.ts', "import { Spool } from '../messages/spool.ts';\n")).length, 1);
    assert.equal((await layerProblems('backend/src/db/probe.ts', "import { TenantDirectory } from '../tenants/tenant-directory.ts';\n")).length, 1);
    // The root utilities are below every folder, and nothing but the start imports the composition root.
    assert.equal((await layerProblems('backend/src/logger.ts', "import { db } from './db/client.ts';\n")).length, 1);
    assert.equal((await layerProblems('backend/src/config.ts', "import { splitMessage } from './mail/header-block.ts';\n")).length, 1);
    assert.equal((await layerProblems('backend/src/http/probe.ts', "import { startGateway } from '../gateway.ts';\n")).length, 1);
    // Browser code stays out of the backend, and the backend out of common/.
    assert.equal((await layerProblems('backend/src/http/probe.ts', "import { useI18n } from '../../../portal/src/i18n.tsx';\n")).length, 1);
    assert.equal((await layerProblems('common/src/probe.ts', "import { loadConfig } from '../../backend/src/config.ts';\n")).length, 1);
  });

  test('imports down the layers, within a folder and into common/ pass', async () => {
    const text = [
      "import { repliesToPortalMessage } from '../messages/portal-replies.ts';",
      "import { splitMessage } from '../mail/header-block.ts';",
      "import { openDatabase } from '../db/client.ts';",
      "import { logger } from '../logger.ts';",
      "import { parseSealpostHeaders } from '../../../common/src/headers.ts';",
      "import { readHeader } from './parse.ts';",
    ].join('\n');
    assert.deepEqual(await layerProblems('backend/src/stages/probe.ts', text), []);
    assert.deepEqual(await layerProblems('backend/src/gateway.ts', "import { buildApp } from './http/app.ts';\n"), []);
    assert.deepEqual(await layerProblems('backend/src/config.ts', "import { resolveLogo } from './tenants/branding.ts';\n"), []);
  });
});
