import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkAddressSyntax } from '../src/mail/address-syntax.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeGatewayForBlock } from './support/test-gateway.ts';

const INTERNET = { localAddress: '127.0.0.2' };
const EXCHANGE = { localAddress: '127.0.0.1' };

describe('envelope address syntax', () => {
  const accepted = [
    'alice@acme.test',
    'first.last+tag@mail.acme.test',
    "o'brien@acme.test",
    'x_y-z=1#2$3&4*5/6?7^8`9{0}|~@acme.test',
    'jürgen@acme.test',
    '用户@acme.test',
    'a@b.co',
    `${'l'.repeat(64)}@acme.test`,
    `a@${'d'.repeat(63)}.test`,
    'A@ACME.TEST',
    'x@123.45',
  ];
  for (const address of accepted) {
    test(`a well-formed address is accepted: ${address.slice(0, 50)}`, () => {
      assert.deepEqual(checkAddressSyntax(address), { valid: true });
    });
  }

  const refused: Array<[string, RegExp]> = [
    ['', /no @domain/],
    ['alice', /no @domain/],
    ['@acme.test', /source routes/],
    ['alice@', /empty label/],
    ['alice@acme', /two labels/],
    ['alice@acme..test', /empty label/],
    ['alice@-acme.test', /hyphen/],
    ['alice@acme-.test', /hyphen/],
    ['alice@acme.test.', /empty label/],
    ['alice@ac_me.test', /"_"/],
    ['alice@bücher.test', /"ü"/],
    ['"alice"@acme.test', /quot/],
    ['"victim@example.net"@acme.test', /more than one @/],
    ['al ice@acme.test', /U\+0020/],
    ['al\tice@acme.test', /U\+0009/],
    ['al\u00a0ice@acme.test', /U\+00A0/],
    ['a<b@acme.test', /"<"/],
    ['a\\b@acme.test', /"\\"/],
    ['user%host@acme.test', /source routes and % or ! forms are not accepted/],
    ['x!y@acme.test', /source routes and % or ! forms are not accepted/],
    ['relay.example:user@acme.test', /source routes/],
    [`${'l'.repeat(65)}@acme.test`, /longer than 64 octets/],
    [`${'ü'.repeat(33)}@acme.test`, /longer than 64 octets/],
    [`a@${'d'.repeat(64)}.test`, /longer than 63/],
    [`a@${'abcdefghi.'.repeat(25)}test`, /longer than 254 octets/],
  ];
  for (const [address, problem] of refused) {
    test(`a malformed address is refused with a reason: ${JSON.stringify(address).slice(0, 50)}`, () => {
      const verdict = checkAddressSyntax(address);
      assert.equal(verdict.valid, false, address);
      assert.match(verdict.valid ? '' : verdict.problem, problem);
    });
  }

  test('the null reverse-path is valid only where the caller allows it, and a source route never is', () => {
    assert.equal(checkAddressSyntax('', { nullPathAllowed: true }).valid, true);
    const routed = checkAddressSyntax('alice@acme.test', { sourceRoute: true });
    assert.equal(routed.valid, false);
    assert.equal(!routed.valid && routed.routing, true);
  });
});

describe('the SMTP gateway refuses addresses that name another hop', () => {
  const running = acmeGatewayForBlock();

  test('RCPT TO with a percent hack, a bang path or a source route gets 553 5.1.3 naming the reason', async () => {
    const smtp = await SmtpConversation.open(running.gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mail.example.org');
    assert.equal((await smtp.command('MAIL FROM:<sender@example.org>')).code, 250);
    const percent = await smtp.command('RCPT TO:<user%victim.example@acme.test>');
    const bang = await smtp.command('RCPT TO:<victim.example!user@acme.test>');
    const route = await smtp.command('RCPT TO:<@relay.example,@acme.test:alice@acme.test>');
    const plain = await smtp.command('RCPT TO:<alice@acme.test>');
    await smtp.quit();
    for (const reply of [percent, bang, route]) {
      assert.equal(reply.code, 553, reply.text);
      assert.match(reply.text, /^5\.1\.3 Recipient address <.*> is not a valid address: source routes and % or ! forms are not accepted/);
    }
    assert.equal(plain.code, 250, 'the same mailbox without a route is accepted');
  });

  test('MAIL FROM with a percent hack or a source route gets 553 5.1.7, the null sender is still accepted', async () => {
    const smtp = await SmtpConversation.open(running.gateway.smtpPort, EXCHANGE);
    await smtp.command('EHLO exchange.acme.test');
    const percent = await smtp.command('MAIL FROM:<alice%relay.example@acme.test>');
    const route = await smtp.command('MAIL FROM:<@relay.example:alice@acme.test>');
    const bounce = await smtp.command('MAIL FROM:<>');
    await smtp.quit();
    for (const reply of [percent, route]) {
      assert.equal(reply.code, 553, reply.text);
      assert.match(reply.text, /^5\.1\.7 Sender address <.*> is not a valid address: source routes and % or ! forms are not accepted/);
    }
    assert.equal(bounce.code, 250);
  });

  test('an SMTPUTF8 local part is still accepted and a malformed domain gets a reply that says what is wrong', async () => {
    const smtp = await SmtpConversation.open(running.gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mail.example.org');
    await smtp.command('MAIL FROM:<jürgen@example.org> SMTPUTF8');
    const utf8 = await smtp.command('RCPT TO:<jürgen@acme.test>');
    const singleLabel = await smtp.command('RCPT TO:<alice@localhost>');
    await smtp.quit();
    assert.equal(utf8.code, 250, utf8.text);
    assert.equal(singleLabel.code, 553);
    assert.match(singleLabel.text, /^5\.1\.3 Recipient address <alice@localhost> is not a valid address: the domain needs at least two labels/);
  });
});
