/**
 * `npm run bench:portal-memory`: how much memory the gateway takes when many readers open one large
 * portal message at once.
 *
 * A gateway process (`backend/src/main.ts` on embedded PGlite, see sealpost-gateway.ts) receives one
 * portal message of about 35 MB (a short text and a 25 MiB attachment) through SMTP. The recipient opens
 * the notification's link; then two bursts of 20 concurrent views and 20 concurrent downloads of the
 * attachment are fired: the first with nothing cached (every request wants the message decrypted and
 * parsed), the second after it. The gateway's RSS is sampled every 25 ms from /proc.
 *
 * The bound: the peak RSS during each burst stays below the RSS just before the first burst plus
 * --bound-mib (default 600 MiB); every view must show the message and every download must return the
 * attachment's exact bytes. Exits 1 when either fails. Before the portal shared opens and limited them,
 * 20 concurrent views of a 35 MB message took the process from 681 MiB to 3.8 GiB.
 *
 * Options: --views N, --downloads N (default 20 each), --attachment-mib N (default 25), --bound-mib N.
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import MailComposer from 'nodemailer/lib/mail-composer';
import { MailPeer } from '../../backend/test/support/mail-peer.ts';
import { tokenOf } from '../../backend/test/support/portal-mail.ts';
import { SmtpConversation } from '../../backend/test/support/smtp-conversation.ts';
import { freePort, releaseAll } from './bench-resources.ts';
import { mib, readProcessMemory, RssSampler } from './process-memory.ts';
import { SealpostGateway } from './sealpost-gateway.ts';

const { values } = parseArgs({
  options: {
    views: { type: 'string', default: '20' },
    downloads: { type: 'string', default: '20' },
    'attachment-mib': { type: 'string', default: '25' },
    'bound-mib': { type: 'string', default: '600' },
  },
});
const viewCount = Number(values.views);
const downloadCount = Number(values.downloads);
const attachmentMib = Number(values['attachment-mib']);
const boundMib = Number(values['bound-mib']);
for (const [name, value] of Object.entries({ views: viewCount, downloads: downloadCount, 'attachment-mib': attachmentMib, 'bound-mib': boundMib })) {
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

const round0 = (n: number) => Math.round(n);

/** sealpost_portal_message_opens_total by outcome (decrypted, cached, shared, busy), from /metrics. */
async function openCounts(httpPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^sealpost_portal_message_opens_total\{outcome="(\w+)"\} (\d+)$/gm)) counts[match[1]!] = Number(match[2]);
  return counts;
}
const sha256 = (data: Buffer | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Cookies of one portal session, kept from the link's Set-Cookie answers. */
class Session {
  private readonly cookies = new Map<string, string>();
  constructor(private readonly base: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(`${this.base}${path}`, { ...init, headers, signal: AbortSignal.timeout(300_000) });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return response;
  }
}

let exitCode = 0;
try {
  const sink = await MailPeer.start();
  const gateway = SealpostGateway.start({ smtpPort: await freePort(), httpPort: await freePort(), sinkPort: sink.port });
  const stopGateway = () => gateway.stop();
  try {
    await gateway.waitReady(120_000);
    const rssNow = () => readProcessMemory(gateway.pid)?.rss;

    const attachment = randomBytes(attachmentMib * 1024 * 1024);
    const eml = await new MailComposer({
      from: 'Alice <alice@bench.test>',
      to: 'client@example.net',
      subject: 'Large secure message',
      text: 'The drawings are attached.',
      html: '<p>The drawings are attached.</p>',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
      attachments: [{ filename: 'drawings.bin', content: attachment, contentType: 'application/octet-stream' }],
    })
      .compile()
      .build();
    console.log(`Sealpost portal memory: one ${(eml.length / 1e6).toFixed(1)} MB portal message, ${viewCount} views + ${downloadCount} downloads at once`);

    const smtp = await SmtpConversation.open(gateway.options.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO bench.test');
    // Written out here rather than with sendMessage: spooling 35 MB on PGlite can take longer than its reply timeout.
    for (const line of ['MAIL FROM:<alice@bench.test>', 'RCPT TO:<client@example.net>', 'DATA']) {
      const reply = await smtp.command(line);
      if (reply.code >= 400) throw new Error(`${line} answered ${reply.code} ${reply.text}`);
    }
    smtp.write(Buffer.concat([Buffer.from(eml.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1'), Buffer.from('\r\n.\r\n')]));
    const accepted = await smtp.readReply(600_000);
    await smtp.quit();
    if (accepted.code !== 250) throw new Error(`the message was not accepted: ${accepted.code} ${accepted.text}`);
    const [notification] = await sink.waitForMessages(1, 300_000);
    const session = new Session(`http://127.0.0.1:${gateway.options.httpPort}`);
    const opened = await session.fetch('/api/portal/links/open', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: tokenOf(notification!) }),
    });
    if (opened.status !== 200) throw new Error(`opening the link answered ${opened.status}: ${await opened.text()}`);
    const messageId = ((await opened.json()) as { messageId: string }).messageId;

    const expectedSha = sha256(attachment);
    const view = async () => {
      const response = await session.fetch(`/api/portal/messages/${messageId}`);
      const body = (await response.json()) as { integrity?: string; text?: string; attachments?: Array<{ id: string }> };
      if (response.status !== 200 || body.integrity !== 'verified' || !body.text?.includes('drawings')) {
        throw new Error(`a view answered ${response.status} ${JSON.stringify(body).slice(0, 300)}`);
      }
      return body.attachments![0]!.id;
    };
    const download = async (attachmentId: string) => {
      const response = await session.fetch(`/api/portal/messages/${messageId}/attachments/${attachmentId}`);
      const body = new Uint8Array(await response.arrayBuffer());
      if (response.status !== 200 || sha256(body) !== expectedSha) {
        throw new Error(`a download answered ${response.status} with ${body.length} bytes that are not the attachment`);
      }
    };

    const sampler = new RssSampler(() => rssNow(), 25).start();
    const baseline = rssNow()!;
    console.log(`gateway RSS before the bursts: ${round0(mib(baseline))} MiB (peak so far, storing included: ${round0(mib(readProcessMemory(gateway.pid)!.hwm))} MiB)`);

    const results: Array<{ label: string; peak: number; seconds: number; opens: Record<string, number> }> = [];
    for (const label of ['cold', 'warm']) {
      const countsBefore = await openCounts(gateway.options.httpPort);
      sampler.resetPeak();
      const started = performance.now();
      // Cold: every request starts before anything of the message was opened (its one attachment is
      // number 0). Warm: one view first, so the views come from the cache and only downloads open it.
      const attachmentId = label === 'cold' ? '0' : await view();
      await Promise.all([
        ...Array.from({ length: viewCount }, () => view()),
        ...Array.from({ length: downloadCount }, () => download(attachmentId)),
      ]);
      const seconds = (performance.now() - started) / 1000;
      sampler.sampleNow();
      const countsAfter = await openCounts(gateway.options.httpPort);
      const opens = Object.fromEntries(Object.entries(countsAfter).map(([outcome, n]) => [outcome, n - (countsBefore[outcome] ?? 0)]));
      results.push({ label, peak: sampler.peak, seconds, opens });
      console.log(
        `${label} burst: ${viewCount} views + ${downloadCount} downloads in ${seconds.toFixed(2)} s; ` +
          `peak RSS ${round0(mib(sampler.peak))} MiB (+${round0(mib(sampler.peak - baseline))} MiB), RSS after ${round0(mib(rssNow()!))} MiB; ` +
          `reads ${Object.entries(opens).map(([outcome, n]) => `${outcome} ${n}`).join(', ')}`,
      );
    }
    sampler.stop();

    const limit = baseline + boundMib * 1024 * 1024;
    const worst = Math.max(...results.map((r) => r.peak));
    const within = worst < limit;
    console.log(
      `bound: peak RSS < before + ${boundMib} MiB = ${round0(mib(limit))} MiB: ${within ? 'kept' : 'EXCEEDED'} (worst peak ${round0(mib(worst))} MiB)`,
    );
    console.log(
      JSON.stringify({
        messageBytes: eml.length,
        views: viewCount,
        downloads: downloadCount,
        baselineMiB: round0(mib(baseline)),
        boundMiB: boundMib,
        bursts: results.map((r) => ({ label: r.label, seconds: Math.round(r.seconds * 100) / 100, peakMiB: round0(mib(r.peak)), growthMiB: round0(mib(r.peak - baseline)), opens: r.opens })),
        within,
      }),
    );
    if (!within) exitCode = 1;
  } finally {
    await stopGateway();
    await sink.close();
  }
} catch (error) {
  console.error(`bench:portal-memory failed: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await releaseAll();
}
process.exit(exitCode);
