/**
 * `npm run bench:portal`: the portal path against plain relay, in the same run on the same gateway.
 *
 * 1. Throughput. Concurrent SMTP sessions from the tenant connector send the same 10 KB HTML messages to
 *    external recipients, once plainly (relayed unchanged) and once with `X-Sealpost-Encrypt: portal`
 *    (received, encrypted per recipient, stored, notified). A round ends when the relay peer has every
 *    relayed message, or every notification. Printed: messages per second accepted and end to end.
 * 2. Opening. In Chromium, a recipient opens the notification's link and presses *Open message*; the time
 *    from the press to the message body being shown, p50 and p95. The first two opens after the gateway
 *    started are printed apart and not counted (its reading code is compiled on them).
 *    Printed too: the requests after the press (median start and end, from the press), so a slow step or
 *    requests made one after the other show; on PostgreSQL, the database's own table statistics per open.
 * 3. Size. The portal's JavaScript, gzipped: all files, what the open page loads (from Chromium's resource
 *    timing), and what has been loaded once the message is shown.
 *
 * The gateway runs in this process on embedded PGlite, or on PostgreSQL when DATABASE_URL is set (or
 * SEALPOST_TEST_DATABASE=postgres with DATABASE_URL, as in the tests). The browser part needs the built
 * portal (npm run build; npm start builds it too).
 *
 * Options: --messages N (per round, default 400), --sessions S (default 20), --opens N (default 20),
 * --cpu-profile FOLDER (V8 CPU profiles of this process, gateway included, from each click to the message
 * shown, as FOLDER/open-N.cpuprofile; their top self-time functions are printed, and
 * scripts/bench/cpu-profile-top.ts reads them again). Profiling slows the opening down: time without it.
 * --browser-profile FOLDER: the same for the page's JavaScript in Chromium (FOLDER/page-N.cpuprofile).
 * --round-profile FOLDER: a V8 CPU profile of this process over each throughput round (FOLDER/relay.cpuprofile,
 * FOLDER/portal.cpuprofile), with the top self-time functions of each printed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Session } from 'node:inspector/promises';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { sql } from 'drizzle-orm';
import { queryRows } from '../../backend/src/db/client.ts';
import { createTestDatabase, ownerDb, testDatabaseKind } from '../../backend/test/support/database.ts';
import { MailPeer } from '../../backend/test/support/mail-peer.ts';
import { magicLinkOf } from '../../backend/test/support/portal-mail.ts';
import { SmtpConversation } from '../../backend/test/support/smtp-conversation.ts';
import { acmeTenant, startBrowserGateway } from '../../backend/test/support/test-gateway.ts';
import { launchChromium } from '../../e2e/support/chromium.ts';
import { percentile as percentileOf } from './latency-probe.ts';
import { REPOSITORY_ROOT } from './sealpost-gateway.ts';
import { formatTop, topSelfTime, type CpuProfile } from './cpu-profile-top.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '400' },
    sessions: { type: 'string', default: '20' },
    opens: { type: 'string', default: '20' },
    'cpu-profile': { type: 'string' },
    'round-profile': { type: 'string' },
    'browser-profile': { type: 'string' },
  },
});
// The issue's command sets only DATABASE_URL: that means PostgreSQL here (the tests also ask for it by name).
if (process.env.DATABASE_URL && !process.env.SEALPOST_TEST_DATABASE) process.env.SEALPOST_TEST_DATABASE = 'postgres';
const messageCount = Number(values.messages);
const sessionCount = Number(values.sessions);
const openCount = Number(values.opens);
for (const [name, value] of Object.entries({ messages: messageCount, sessions: sessionCount, opens: openCount })) {
  // --opens 0 measures throughput only (no browser).
  if (!Number.isInteger(value) || value < (name === 'opens' ? 0 : 1)) {
    console.error(`--${name} must be a ${name === 'opens' ? 'non-negative' : 'positive'} integer`);
    process.exit(2);
  }
}

const portalDist = join(REPOSITORY_ROOT, 'dist/portal');
/** Opens before the measured ones, on a gateway that has not served any yet (see where they run). */
const WARM_UP_OPENS = 2;
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

const kib = (bytes: number) => (bytes / 1024).toFixed(1);

/** Raw and gzipped (level 9) size of files in dist/portal. */
function jsSize(files: string[]): { bytes: number; gzipBytes: number } {
  let bytes = 0;
  let gzipBytes = 0;
  for (const file of files) {
    const content = readFileSync(join(portalDist, file));
    bytes += content.length;
    gzipBytes += gzipSync(content, { level: 9 }).length;
  }
  return { bytes, gzipBytes };
}

/** The portal's script files the page has loaded so far (Chromium's resource timing). */
async function scriptsLoaded(page: Page): Promise<string[]> {
  const urls = await page.evaluate(() => performance.getEntriesByType('resource').map((entry) => entry.name));
  return urls.map((url) => new URL(url).pathname).filter((path) => path.startsWith('/portal/') && path.endsWith('.js')).map((path) => path.slice('/portal/'.length));
}

/** Every request after the click, named without ids and content hashes, with start and end relative to the click. */
async function requestsAfterClick(page: Page): Promise<Array<{ name: string; start: number; end: number }>> {
  const entries = await page.evaluate(() => {
    const clickedAt = (window as unknown as { clickedAt: number }).clickedAt;
    return performance
      .getEntriesByType('resource')
      .filter((entry) => entry.startTime >= clickedAt)
      .map((entry) => ({ url: entry.name, start: entry.startTime - clickedAt, end: (entry as PerformanceResourceTiming).responseEnd - clickedAt, initiator: (entry as PerformanceResourceTiming).initiatorType }));
  });
  return entries.map((entry) => {
    const path = new URL(entry.url).pathname
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, ':id')
      .replace(/\.[0-9a-f]{16,}\.js$/, '.js');
    return { name: `${entry.initiator === 'fetch' ? 'API' : entry.initiator} ${path}`, start: entry.start, end: entry.end };
  });
}

/** Profiles this process (gateway and browser driver) only while a message is being opened. */
async function openingProfiler(folder: string) {
  mkdirSync(folder, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  const profiles: CpuProfile[] = [];
  return {
    profiles,
    start: () => session.post('Profiler.start'),
    async stop(fileName?: string) {
      const { profile } = await session.post('Profiler.stop');
      profiles.push(profile as CpuProfile);
      writeFileSync(join(folder, fileName ?? `open-${profiles.length}.cpuprofile`), JSON.stringify(profile));
    },
    close: () => session.disconnect(),
  };
}

/**
 * Notes in the page when the click arrives and when the marker is first painted in the message frame
 * (checked every animation frame), so the time is the page's own and not the test driver's polling.
 */
async function watchForMarker(page: Page, marker: string): Promise<void> {
  // Given as text: the TypeScript loader would wrap named inner functions in a helper the page lacks.
  await page.evaluate(`(() => {
    const marker = ${JSON.stringify(marker)};
    document.addEventListener('click', () => { window.clickedAt = performance.now(); }, { capture: true, once: true });
    function check() {
      const frame = document.querySelector('iframe');
      const body = frame && frame.contentDocument && frame.contentDocument.body;
      // Layout is asked for only once the text is there: asking every frame would slow the page down.
      if (frame && body && (body.textContent || '').includes(marker) && frame.getBoundingClientRect().height > 0) {
        // The next animation frame comes after the frame's content was painted.
        requestAnimationFrame(() => { window.shownAt = performance.now(); });
        return;
      }
      requestAnimationFrame(check);
    }
    requestAnimationFrame(check);
  })()`);
}

type TableCounters = Map<string, Record<string, number>>;
const TABLE_COUNTERS = ['seq_scan', 'seq_tup_read', 'idx_scan', 'idx_tup_fetch', 'n_tup_ins', 'n_tup_upd'] as const;

/** PostgreSQL's own per-table statistics for the benchmark's database (undefined on PGlite). */
async function tableStatistics(): Promise<TableCounters | undefined> {
  if (!database.url) return undefined;
  // Backends report their counters when they go idle, at most once a second.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<Record<string, string>>(
      `select relname, ${TABLE_COUNTERS.map((c) => `coalesce(${c}, 0) as ${c}`).join(', ')} from pg_stat_user_tables`,
    );
    const { rows: [db] } = await client.query<{ xact_commit: string }>('select xact_commit from pg_stat_database where datname = current_database()');
    const counters: TableCounters = new Map(rows.map((row) => [row.relname!, Object.fromEntries(TABLE_COUNTERS.map((c) => [c, Number(row[c])]))]));
    counters.set('(database)', { xact_commit: Number(db?.xact_commit ?? 0) });
    return counters;
  } finally {
    await client.end();
  }
}

function printTableStatistics(before: TableCounters, after: TableCounters, opens: number): void {
  const perOpen = (table: string, counter: string) => ((after.get(table)?.[counter] ?? 0) - (before.get(table)?.[counter] ?? 0)) / opens;
  console.log(`PostgreSQL statistics per open (pg_stat_user_tables): ${perOpen('(database)', 'xact_commit').toFixed(1)} commits`);
  const tables = [...after.keys()].filter((t) => t !== '(database)' && TABLE_COUNTERS.some((c) => perOpen(t, c) > 0));
  tables.sort((a, b) => perOpen(b, 'seq_tup_read') + perOpen(b, 'idx_tup_fetch') - (perOpen(a, 'seq_tup_read') + perOpen(a, 'idx_tup_fetch')));
  for (const table of tables) {
    console.log(`  ${table.padEnd(26)} ${TABLE_COUNTERS.map((c) => `${c} ${round1(perOpen(table, c))}`).join(', ')}`);
  }
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Statements this process sent to PostgreSQL (gateway included), BEGIN and COMMIT counted too. */
let statementsSent = 0;
const sendQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  statementsSent += 1;
  return (sendQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

const database = await createTestDatabase();
const mailServer = await MailPeer.start();
const relay = await MailPeer.start();
const { gateway } = await startBrowserGateway(database, [acmeTenant(mailServer.port)], {
  SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
  // The product's own poll (the test gateway polls ten times as often, for the tests' sake): new work is
  // taken up at once by the in-process signal either way, and the idle polling would only crowd the browser.
  SEALPOST_WORKER_POLL_MS: '1000',
  SEALPOST_LOG_LEVEL: 'warn',
});

/**
 * For the messages a round received: how long after its receipt each message reached each step of its
 * trace, so that a step that waits shows (a queue polled, a commit queued behind others).
 */
async function stepTimes(since: Date, until: Date): Promise<Array<{ step: string; p50: number; p95: number; count: number }>> {
  const rows = await queryRows<{ step: string; p50: number; p95: number; count: string }>(
    ownerDb(gateway.database.db),
    sql`with firsts as (select message_id, min(at) as t0 from message_trace where at >= ${since.toISOString()}::timestamptz and at < ${until.toISOString()}::timestamptz
                          group by message_id having bool_or(step = 'received'))
        select t.step, count(*) as count,
               percentile_cont(0.5) within group (order by extract(epoch from t.at - f.t0) * 1000) as p50,
               percentile_cont(0.95) within group (order by extract(epoch from t.at - f.t0) * 1000) as p95
          from message_trace t join firsts f on f.message_id = t.message_id
         group by t.step order by p50`,
  );
  return rows.map((r) => ({ step: r.step, p50: Number(r.p50), p95: Number(r.p95), count: Number(r.count) }));
}

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

  const rounds: Record<string, string> = {};
  /** A round, with the database's commits and this process's statements per message on PostgreSQL. */
  const measuredLoad = async (label: string, portal: boolean) => {
    const before = await tableStatistics();
    const statementsBefore = statementsSent;
    const profiler = values['round-profile'] ? await openingProfiler(values['round-profile']) : undefined;
    await profiler?.start();
    const cpuBefore = process.cpuUsage();
    const round = await load(label, portal, messageCount, sessionCount);
    const cpu = process.cpuUsage(cpuBefore);
    if (profiler) {
      await profiler.stop(`${label}.cpuprofile`);
      console.log(`${label} round, top self time:\n${formatTop(topSelfTime(profiler.profiles, 25))}`);
      profiler.close();
    }
    const statements = (statementsSent - statementsBefore) / messageCount;
    // This process holds the gateway, the SMTP senders and the relay peer: the CPU is theirs together.
    console.log(
      `${label} round: ${round1((cpu.user + cpu.system) / 1000 / messageCount)} CPU-ms per message in this process ` +
        `(${round1(((cpu.user + cpu.system) / 1000 / (round.endToEnd.seconds * 1000)) * 100)} % of one core over the round)`,
    );
    const after = await tableStatistics();
    if (before && after) {
      const commits = ((after.get('(database)')?.xact_commit ?? 0) - (before.get('(database)')?.xact_commit ?? 0)) / messageCount;
      rounds[label] = `${label}: ${commits.toFixed(1)} commits, ${statements.toFixed(1)} statements per message`;
    }
    return round;
  };
  const relayStart = new Date();
  const relayRound = await measuredLoad('relay', false);
  const portalStart = new Date();
  const portalRound = await measuredLoad('portal', true);
  for (const [label, since, until] of [['relay', relayStart, portalStart], ['portal', portalStart, new Date()]] as const) {
    console.log(`${label} round, time from receipt to each trace step (p50 / p95 ms, messages):`);
    for (const row of await stepTimes(since, until)) console.log(`  ${row.step.padEnd(18)} ${round1(row.p50).toString().padStart(8)} ${round1(row.p95).toString().padStart(8)} ${String(row.count).padStart(6)}`);
  }
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
  if (Object.keys(rounds).length > 0) console.log(`PostgreSQL per message: ${Object.values(rounds).join('; ')}`);

  const jsFiles = existsSync(portalDist) ? readdirSync(portalDist).filter((f) => f.endsWith('.js')) : [];
  if (openCount === 0) {
    console.log('--opens 0: the opening and the JavaScript size are not measured.');
  } else if (jsFiles.length === 0) {
    console.log('dist/portal is missing: run "npm run build" for the opening time and the JavaScript size.');
  } else {
    const all = jsSize(jsFiles);
    console.log(`portal JavaScript, all files: ${kib(all.bytes)} KiB, ${kib(all.gzipBytes)} KiB gzipped (${jsFiles.length} files)`);
    summary.portalJs = { bytes: all.bytes, gzipBytes: all.gzipBytes, files: jsFiles.length };

    // Opening: the notifications of the portal round, in order of their messages.
    const allLinks = portalRound.mails.slice(0, openCount + WARM_UP_OPENS).map((mail) => ({ link: magicLinkOf(mail), index: Number(/client(\d+)@/.exec(mail.recipients[0]!)?.[1]) }));
    const warmUps = allLinks.slice(0, Math.max(0, allLinks.length - openCount));
    const links = allLinks.slice(warmUps.length);
    const chromium = await launchChromium();
    const timings: number[] = [];
    const polledTimings: number[] = [];
    const pageLoads: number[] = [];
    const pageProfiles: CpuProfile[] = [];
    const requests = new Map<string, { start: number[]; end: number[] }>();
    const scriptsBeforeClick = new Set<string>();
    const scriptsAfterOpening = new Set<string>();
    const profiler = values['cpu-profile'] ? await openingProfiler(values['cpu-profile']) : undefined;
    try {
      // A gateway that has just started compiles its reading code on the first opens: those are timed and
      // printed, but not counted, as a gateway in service has long done that.
      const warmUpTimings: number[] = [];
      for (const { link, index } of warmUps) {
        const context = await chromium.browser.newContext();
        const page = await context.newPage();
        await page.goto(link);
        const started = performance.now();
        await page.getByRole('button', { name: /open message/i }).click();
        await page.frameLocator('iframe').getByText(portalRound.markers[index]!).waitFor({ state: 'visible', timeout: 30_000 });
        warmUpTimings.push(performance.now() - started);
        await context.close();
      }
      if (warmUpTimings.length) console.log(`first opens after the gateway started (not counted; as Playwright's polling sees them): ${warmUpTimings.map((t) => `${round1(t)} ms`).join(', ')}`);
    } catch (error) {
      await chromium.close();
      throw error;
    }
    const tablesBefore = await tableStatistics();
    try {
      for (const { link, index } of links) {
        const context = await chromium.browser.newContext();
        const page = await context.newPage();
        const loading = performance.now();
        await page.goto(link);
        const button = page.getByRole('button', { name: /open message/i });
        await button.waitFor({ state: 'visible', timeout: 30_000 });
        pageLoads.push(performance.now() - loading);
        for (const name of await scriptsLoaded(page)) scriptsBeforeClick.add(name);
        const marker = portalRound.markers[index]!;
        await watchForMarker(page, marker);
        await profiler?.start();
        const pageProfiler = values['browser-profile'] ? await context.newCDPSession(page) : undefined;
        if (pageProfiler) {
          await pageProfiler.send('Profiler.enable');
          await pageProfiler.send('Profiler.setSamplingInterval', { interval: 100 });
          await pageProfiler.send('Profiler.start');
        }
        const started = performance.now();
        await button.click();
        // Playwright polls at growing intervals (up to 500 ms): its time is printed for comparison only.
        await page.frameLocator('iframe').getByText(marker).waitFor({ state: 'visible', timeout: 30_000 });
        polledTimings.push(performance.now() - started);
        await profiler?.stop();
        if (pageProfiler) {
          const { profile } = await pageProfiler.send('Profiler.stop');
          pageProfiles.push(profile as CpuProfile);
          mkdirSync(values['browser-profile']!, { recursive: true });
          writeFileSync(join(values['browser-profile']!, `page-${pageProfiles.length}.cpuprofile`), JSON.stringify(profile));
        }
        const inPage = await page.waitForFunction(() => {
          const state = window as unknown as { clickedAt?: number; shownAt?: number };
          return state.shownAt !== undefined && state.clickedAt !== undefined ? state.shownAt - state.clickedAt : undefined;
        });
        timings.push((await inPage.jsonValue())!);
        for (const name of await scriptsLoaded(page)) scriptsAfterOpening.add(name);
        for (const entry of await requestsAfterClick(page)) {
          const times = requests.get(entry.name) ?? { start: [], end: [] };
          times.start.push(entry.start);
          times.end.push(entry.end);
          requests.set(entry.name, times);
        }
        await context.close();
      }
    } finally {
      profiler?.close();
      await chromium.close();
    }
    const tablesAfter = await tableStatistics();

    // What the open page needs to show itself: the scripts its index page names (the pages' own files come later).
    const indexScripts = [...readFileSync(join(portalDist, 'index.html'), 'utf8').matchAll(/src="?\/portal\/([^"\s>]+\.js)/g)].map((m) => m[1]!);
    const entry = jsSize(indexScripts);
    const beforeClick = jsSize([...scriptsBeforeClick]);
    const opened = jsSize([...scriptsAfterOpening]);
    console.log(
      `portal JavaScript the open page needs: ${kib(entry.gzipBytes)} KiB gzipped (${indexScripts.length} files); ` +
        `loaded before the press (idle prefetch included): ${kib(beforeClick.gzipBytes)} KiB (${scriptsBeforeClick.size} files); ` +
        `with the message shown: ${kib(opened.gzipBytes)} KiB (${scriptsAfterOpening.size} files)`,
    );
    summary.openPageJs = { gzipBytes: entry.gzipBytes, files: indexScripts.length, beforeClickGzipBytes: beforeClick.gzipBytes, withMessageGzipBytes: opened.gzipBytes };
    console.log(`open page, link → button shown (fresh browser context): p50 ${round1(percentile(pageLoads, 50))} ms`);
    console.log('requests after the click (median ms from the click: start → end):');
    const rows = [...requests.entries()].sort((a, b) => percentile(a[1].start, 50) - percentile(b[1].start, 50));
    for (const [name, times] of rows) {
      console.log(`  ${round1(percentile(times.start, 50)).toString().padStart(7)} → ${round1(percentile(times.end, 50)).toString().padEnd(7)} ${name} (${times.start.length}×)`);
    }
    console.log(
      `open message → shown: p50 ${round1(percentile(timings, 50))} ms, p95 ${round1(percentile(timings, 95))} ms (${timings.length} opens in Chromium, ` +
        `click to the marker painted in the message frame; as Playwright's polling sees it: p50 ${round1(percentile(polledTimings, 50))} ms, ` +
        `p95 ${round1(percentile(polledTimings, 95))} ms)`,
    );
    summary.openToShownMs = { p50: round1(percentile(timings, 50)), p95: round1(percentile(timings, 95)), samples: timings.length };
    summary.openToShownPolledMs = { p50: round1(percentile(polledTimings, 50)), p95: round1(percentile(polledTimings, 95)) };
    if (tablesBefore && tablesAfter) printTableStatistics(tablesBefore, tablesAfter, timings.length);
    if (pageProfiles.length) console.log(`${formatTop(topSelfTime(pageProfiles, 20))}\n(profiles of the page's JavaScript from each click to the message shown: ${values['browser-profile']})`);
    if (profiler) console.log(`${formatTop(topSelfTime(profiler.profiles, 20))}\n(profiles of this process from each click to the message shown: ${values['cpu-profile']})`);
  }
  console.log(JSON.stringify(summary));
} finally {
  await gateway.stop();
  await mailServer.close();
  await relay.close();
  await database.cleanup();
}
