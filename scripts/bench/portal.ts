/**
 * `npm run bench:portal`: the portal path against plain relay, in the same run on the same gateway.
 *
 * 1. Throughput. Concurrent SMTP sessions from the tenant connector send the same 10 KB HTML messages to
 *    external recipients, once plainly (relayed unchanged) and once with `X-Sealpost-Encrypt: portal`
 *    (received, encrypted per recipient, stored, notified). A round ends when the relay peer has every
 *    relayed message, or every notification. Printed: messages per second accepted and end to end.
 * 2. Opening. In Chromium, a recipient opens the notification's link and presses *Open message*; the time
 *    from the press to the message body being shown, p50 and p95.
 * 3. Size. The portal's JavaScript as served, gzipped.
 *
 * The gateway runs in this process on embedded PGlite, or on PostgreSQL with SEALPOST_TEST_DATABASE=postgres
 * and DATABASE_URL set. The browser part needs the built portal (npm run build; npm start builds it too).
 *
 * Options: --messages N (per round, default 400), --sessions S (default 20), --opens N (default 20).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { createTestDatabase, testDatabaseKind } from '../../backend/test/support/database.ts';
import { MailPeer } from '../../backend/test/support/mail-peer.ts';
import { magicLinkOf } from '../../backend/test/support/portal-mail.ts';
import { SmtpConversation } from '../../backend/test/support/smtp-conversation.ts';
import { acmeTenant, startBrowserGateway } from '../../backend/test/support/test-gateway.ts';
import { launchChromium } from '../../e2e/support/chromium.ts';
import { percentile as percentileOf } from './latency-probe.ts';
import { REPOSITORY_ROOT } from './sealpost-gateway.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '400' },
    sessions: { type: 'string', default: '20' },
    opens: { type: 'string', default: '20' },
  },
});
const messageCount = Number(values.messages);
const sessionCount = Number(values.sessions);
const openCount = Number(values.opens);
for (const [name, value] of Object.entries({ messages: messageCount, sessions: sessionCount, opens: openCount })) {
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

const portalDist = join(REPOSITORY_ROOT, 'dist/portal');
const percentile = (values: number[], p: number) => percentileOf(values, p) ?? Number.NaN;
const round1 = (n: number) => Math.round(n * 10) / 10;

function htmlMessage(index: number, marker: string, portal: boolean): string {
  const paragraph = `<p>Clause ${index}: the parties agree to keep this document confidential. ${'Lorem ipsum dolor sit amet. '.repeat(8)}</p>\r\n`;
  let html = `<html><body><h1>Contract ${index}</h1><p id="marker">${marker}</p>\r\n`;
  while (html.length < 10_000) html += paragraph;
  html += '</body></html>\r\n';
  return [
    'From: Alice <alice@acme.test>',
    `To: client${index}@example.net`,
    `Subject: Contract ${index}`,
    `Message-ID: <bench-${marker}@acme.test>`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    ...(portal ? ['X-Sealpost-Encrypt: portal'] : []),
    'Content-Type: text/html; charset=utf-8',
    '',
    html,
  ].join('\r\n');
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const database = await createTestDatabase();
const mailServer = await MailPeer.start();
const relay = await MailPeer.start();
const { gateway } = await startBrowserGateway(database, [acmeTenant(mailServer.port)], {
  SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
  SEALPOST_WORKER_POLL_MS: '50',
  SEALPOST_LOG_LEVEL: 'warn',
});

/** Sends `count` messages over `sessions` concurrent connections; returns when the last 250 came. */
async function load(label: string, portal: boolean, count: number, sessions: number) {
  const relayedBefore = relay.received.length;
  const started = performance.now();
  let next = 0;
  const markers: string[] = [];
  const sender = async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    for (;;) {
      const index = next++;
      if (index >= count) break;
      const marker = `${label}-${index}-${Math.random().toString(36).slice(2, 10)}`;
      markers[index] = marker;
      const result = await smtp.sendMessage('alice@acme.test', [`client${index}@example.net`], htmlMessage(index, marker, portal));
      if (result.final?.code !== 250) throw new Error(`message ${index} was not accepted: ${result.final?.text ?? result.mail.text}`);
    }
    await smtp.quit();
  };
  await Promise.all(Array.from({ length: Math.min(sessions, count) }, sender));
  const accepted = performance.now() - started;
  await waitFor(`${label}: ${count} messages at the relay`, () => relay.received.length - relayedBefore >= count, 600_000);
  const done = performance.now() - started;
  return {
    label,
    accepted: { seconds: accepted / 1000, perSecond: count / (accepted / 1000) },
    endToEnd: { seconds: done / 1000, perSecond: count / (done / 1000) },
    mails: relay.received.slice(relayedBefore),
    markers,
  };
}

const summary: Record<string, unknown> = { database: testDatabaseKind(), messages: messageCount, sessions: sessionCount };
try {
  console.log(`Sealpost portal benchmark: ${messageCount} messages per round, ${sessionCount} sessions, ${testDatabaseKind()}`);
  // A short warm-up so neither round pays for first connections and compiled statements.
  await load('warm-up', true, Math.min(20, messageCount), Math.min(5, sessionCount));

  const relayRound = await load('relay', false, messageCount, sessionCount);
  const portalRound = await load('portal', true, messageCount, sessionCount);
  for (const round of [relayRound, portalRound]) {
    console.log(
      `${round.label.padEnd(7)} accepted ${round1(round.accepted.perSecond)} msg/s (${round1(round.accepted.seconds)} s); ` +
        `end to end ${round1(round.endToEnd.perSecond)} msg/s (${round1(round.endToEnd.seconds)} s)`,
    );
  }
  const ratio = portalRound.endToEnd.perSecond / relayRound.endToEnd.perSecond;
  console.log(`portal / relay, end to end: ${(ratio * 100).toFixed(0)} %`);
  summary.relay = { acceptedPerSecond: round1(relayRound.accepted.perSecond), endToEndPerSecond: round1(relayRound.endToEnd.perSecond) };
  summary.portal = { acceptedPerSecond: round1(portalRound.accepted.perSecond), endToEndPerSecond: round1(portalRound.endToEnd.perSecond) };
  summary.portalToRelay = Math.round(ratio * 100) / 100;

  const jsFiles = existsSync(portalDist) ? readdirSync(portalDist).filter((f) => f.endsWith('.js')) : [];
  if (jsFiles.length === 0) {
    console.log('dist/portal is missing: run "npm run build" for the opening time and the JavaScript size.');
  } else {
    const raw = jsFiles.reduce((sum, f) => sum + readFileSync(join(portalDist, f)).length, 0);
    const gz = jsFiles.reduce((sum, f) => sum + gzipSync(readFileSync(join(portalDist, f)), { level: 9 }).length, 0);
    console.log(`portal JavaScript: ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped (${jsFiles.length} files)`);
    summary.portalJs = { bytes: raw, gzipBytes: gz, files: jsFiles.length };

    // Opening: the notifications of the portal round, in order of their messages.
    const links = portalRound.mails.slice(0, openCount).map((mail) => ({ link: magicLinkOf(mail), index: Number(/client(\d+)@/.exec(mail.recipients[0]!)?.[1]) }));
    const chromium = await launchChromium();
    const timings: number[] = [];
    try {
      for (const { link, index } of links) {
        const context = await chromium.browser.newContext();
        const page = await context.newPage();
        await page.goto(link);
        const button = page.getByRole('button', { name: /open message/i });
        await button.waitFor({ state: 'visible', timeout: 30_000 });
        const marker = portalRound.markers[index]!;
        const started = performance.now();
        await button.click();
        await page.frameLocator('iframe').getByText(marker).waitFor({ state: 'visible', timeout: 30_000 });
        timings.push(performance.now() - started);
        await context.close();
      }
    } finally {
      await chromium.close();
    }
    console.log(
      `open message → shown: p50 ${round1(percentile(timings, 50))} ms, p95 ${round1(percentile(timings, 95))} ms (${timings.length} opens in Chromium)`,
    );
    summary.openToShownMs = { p50: round1(percentile(timings, 50)), p95: round1(percentile(timings, 95)), samples: timings.length };
  }
  console.log(JSON.stringify(summary));
} finally {
  await gateway.stop();
  await mailServer.close();
  await relay.close();
  await database.cleanup();
}
