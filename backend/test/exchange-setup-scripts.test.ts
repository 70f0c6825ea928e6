import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { HEADER_FLAG, loopHeaderName } from '../../common/src/headers.ts';
import {
  dnsRecordsToPublish,
  exchangeOnlineSetupScript,
  exchangeOnPremisesSetupScript,
  LEGACY_MARKER_RULE_PREFIX,
  psQuote,
  routingExceptionHeader,
  ROUTING_RULE_NAME,
  SetupInputError,
  SPAM_RULE_NAME,
} from '../src/deployment/exchange-setup.ts';
import { prepareOutgoingMessage } from '../src/mail/outgoing-message.ts';
import { SAMPLE_SETUP_INPUT } from '../src/deployment/sample-tenant.ts';

const acme = {
  tenantName: 'Acme',
  domains: ['acme.test', 'Acme-Law.test'],
  gatewayHost: 'mx.sealpost.example',
  tlsCertificateName: 'mx.sealpost.example',
};

/** The `$name = @{ ... }` hashtable that follows the line assigning `$ruleName = '<name>'`. */
function ruleBlock(script: string, name: string): string {
  const start = script.indexOf(`$ruleName = ${psQuote(name)}`);
  assert.ok(start >= 0, `rule ${name} is created`);
  const end = script.indexOf('\n}\n', start);
  return script.slice(start, end);
}

/** Which single-quoted literals a line holds, read the way PowerShell reads them. */
function singleQuotedLiterals(line: string): string[] {
  const out: string[] = [];
  const quotes = /['\u2018\u2019\u201A\u201B]/;
  for (let i = 0; i < line.length; i++) {
    if (!quotes.test(line[i]!)) continue;
    let value = '';
    i++;
    for (; i < line.length; i++) {
      if (quotes.test(line[i]!)) {
        if (quotes.test(line[i + 1] ?? '')) {
          value += line[i];
          i++;
          continue;
        }
        break;
      }
      value += line[i];
    }
    out.push(value);
  }
  return out;
}

describe('Exchange setup scripts', () => {
  test('the Exchange Online script creates a TLS-validated, rule-scoped outbound connector to the gateway', () => {
    const script = exchangeOnlineSetupScript(acme);
    assert.match(script, /New-OutboundConnector -Name \$OutboundConnectorName @outbound/);
    assert.match(script, /ConnectorType\s+= 'Partner'/);
    assert.match(script, /SmartHosts\s+= @\(\$GatewayHost\)/);
    assert.match(script, /UseMXRecord\s+= \$false/);
    assert.match(script, /TlsSettings\s+= 'DomainValidation'/);
    assert.match(script, /TlsDomain\s+= \$TlsCertificateName/);
    assert.match(script, /IsTransportRuleScoped = \$true/);
    assert.match(script, /\$GatewayHost = 'mx\.sealpost\.example'/);
  });

  test('the inbound connector requires TLS with the gateway certificate and restricts domains to it', () => {
    const script = exchangeOnlineSetupScript({ ...acme, gatewayIps: ['203.0.113.25'] });
    assert.match(script, /New-InboundConnector -Name \$InboundConnectorName @inbound/);
    assert.match(script, /RequireTls\s+= \$true/);
    assert.match(script, /TlsSenderCertificateName\s+= \$TlsCertificateName/);
    assert.match(script, /RestrictDomainsToCertificate = \$true/);
    assert.match(script, /SenderIPAddresses\s+= @\('203\.0\.113\.25'\)/);
  });

  test('as in the reference set-up, the routing rule comes first (priority 0) and excepts handed-back mail itself; the junk rule follows (priority 1)', () => {
    const script = exchangeOnlineSetupScript(acme);
    const routing = ruleBlock(script, ROUTING_RULE_NAME);
    assert.match(routing, /FromScope\s+= 'InOrganization'/);
    assert.match(routing, /SenderAddressLocation\s+= 'HeaderOrEnvelope'/);
    assert.match(routing, /RouteMessageOutboundConnector\s+= \$OutboundConnectorName/);
    assert.match(routing, new RegExp(`ExceptIfHeaderMatchesMessageHeader\\s+= '${loopHeaderName('acme-law.test')}'`), 'the loop header, on the routing rule itself');
    assert.match(routing, /ExceptIfHeaderMatchesPatterns\s+= @\('\^true\$'\)/);
    assert.match(routing, /Priority\s+= 0\b/);
    assert.match(ruleBlock(script, SPAM_RULE_NAME), /Priority\s+= 1\b/);
    assert.ok(script.indexOf(`$ruleName = ${psQuote(ROUTING_RULE_NAME)}`) < script.indexOf(`$ruleName = ${psQuote(SPAM_RULE_NAME)}`), 'created in that order, so priority 1 exists when it is set');
    assert.doesNotMatch(script, /SetHeaderName/, 'no marker rules any more');
    for (const domain of ['acme.test', 'acme-law.test']) {
      assert.ok(script.includes(`$legacyRule = ${psQuote(`${LEGACY_MARKER_RULE_PREFIX}${domain}`)}`), `the marker rule of an earlier version for ${domain} is removed`);
    }
    assert.match(script, /Remove-TransportRule -Identity \$legacyRule -Confirm:\$false/);
  });

  test('the one excepted loop header is on every message the gateway hands back, whatever domain it is for', () => {
    const excepted = routingExceptionHeader(acme.domains.map((d) => d.toLowerCase()));
    const raw = Buffer.from('From: client@example.net\r\nTo: bob@acme.test\r\nSubject: Hi\r\n\r\nHello\r\n');
    for (const recipient of ['bob@acme.test', 'carol@acme-law.test']) {
      const prepared = prepareOutgoingMessage(raw, 'tenant-mail-server', [recipient], [], [], {}, ['acme.test', 'acme-law.test']);
      assert.equal(prepared.outcome, 'ready');
      const text = prepared.outcome === 'ready' ? prepared.raw.toString() : '';
      assert.match(text, new RegExp(`^${excepted}: true\\r$`, 'm'), `handed back for ${recipient}`);
      assert.match(text, new RegExp(`^${loopHeaderName(recipient.split('@')[1]!)}: true\\r$`, 'm'), "and the recipient domain's own");
    }
  });

  test('both Exchange Online connectors are Partner connectors, the inbound one restricted to the certificate', () => {
    const script = exchangeOnlineSetupScript(acme);
    assert.equal(script.match(/ConnectorType\s+= 'Partner'/g)?.length, 2);
    assert.doesNotMatch(script, /ConnectorType\s+= 'OnPremises'/);
    assert.match(script, /ConnectorType\s+= 'Partner'\n\s+SenderDomains\s+= @\('\*'\)\n\s+RequireTls\s+= \$true\n\s+TlsSenderCertificateName\s+= \$TlsCertificateName\n\s+RestrictDomainsToCertificate = \$true/);
  });

  test('calendar items and null senders are excepted from routing', () => {
    const routing = ruleBlock(exchangeOnlineSetupScript(acme), ROUTING_RULE_NAME);
    assert.match(routing, /ExceptIfMessageTypeMatches\s+= 'Calendaring'/);
    assert.match(routing, /ExceptIfHeaderContainsMessageHeader = 'Return-Path'/);
    assert.match(routing, /ExceptIfHeaderContainsWords\s+= @\('<>'\)/);
    assert.match(routing, /ExceptIfFromAddressMatchesPatterns\s+= @\('\^<>\$'\)/);
  });

  test('flagged inbound mail is set to SCL 7 in both variants', () => {
    for (const script of [exchangeOnlineSetupScript(acme), exchangeOnPremisesSetupScript(acme)]) {
      const block = ruleBlock(script, 'Sealpost: flagged mail is junk (SCL 7)');
      assert.match(block, new RegExp(`HeaderMatchesMessageHeader = '${HEADER_FLAG}'`));
      assert.match(block, /HeaderMatchesPatterns\s+= @\('\^YES\$'\)/);
      assert.match(block, /SetSCL\s+= 7/);
    }
  });

  test('every object is updated when it exists, so the script can run twice', () => {
    const script = exchangeOnlineSetupScript(acme);
    for (const kind of ['OutboundConnector', 'InboundConnector', 'TransportRule']) {
      assert.match(script, new RegExp(`if \\(Get-${kind} -Identity \\$\\w+ -ErrorAction SilentlyContinue\\) \\{\\n\\s+Set-${kind} -Identity`));
    }
    const onprem = exchangeOnPremisesSetupScript(acme);
    assert.match(onprem, /Get-SendConnector[^\n]*\n\s+Set-SendConnector/);
    assert.match(onprem, /Get-ReceiveConnector[^\n]*\n\s+Set-ReceiveConnector/);
  });

  test('the on-premises script creates a TLS Send connector to the gateway and a Receive connector for it', () => {
    const withoutIps = exchangeOnPremisesSetupScript(acme);
    assert.match(withoutIps, /\[Parameter\(Mandatory = \$true\)\] \[string\[\]\] \$GatewayIpAddresses/, 'asks for the gateway addresses');
    const script = exchangeOnPremisesSetupScript({ ...acme, gatewayIps: ['203.0.113.25', '2001:db8::25'] });
    assert.match(script, /\$GatewayIpAddresses = @\('203\.0\.113\.25', '2001:db8::25'\)/);
    assert.match(script, /AddressSpaces\s+= @\('SMTP:\*;1'\)/);
    assert.match(script, /DNSRoutingEnabled\s+= \$false/);
    assert.match(script, /RequireTLS\s+= \$true/);
    assert.match(script, /TlsAuthLevel\s+= 'DomainValidation'/);
    assert.match(script, /New-ReceiveConnector[^\n]*-TransportRole 'FrontendTransport'/);
    assert.match(script, /RemoteIPRanges\s+= \$GatewayIpAddresses/);
  });

  test('the on-premises script sends outbound mail to the gateway by its Send connector alone, and says so', () => {
    const script = exchangeOnPremisesSetupScript({ ...acme, gatewayIps: ['203.0.113.25'] });
    assert.doesNotMatch(script, /RouteMessageOutboundConnector|New-OutboundConnector/, 'no relay rule: Exchange Server has no rule action that routes to a connector');
    assert.match(script, /No transport rule is needed to send it there/);
    assert.match(script, /AddressSpaces\s+= @\('SMTP:\*;1'\)/);
    assert.match(ruleBlock(script, SPAM_RULE_NAME), /Priority\s+= 0\b/, 'the only rule');
  });

  test("a tenant name with apostrophes, typographic quotes and line breaks stays inside its string", () => {
    const name = "O'Brien & Partners ‘Law’ $(Remove-Item C:\\) \n Write-Host pwned";
    const script = exchangeOnlineSetupScript({ ...acme, tenantName: name.replace('\n', ' ') });
    const line = script.split('\n').find((l) => l.startsWith('$TenantName = '))!;
    assert.deepEqual(singleQuotedLiterals(line.slice('$TenantName = '.length)), [name.replace('\n', ' ')]);
    assert.ok(line.endsWith("'"), 'the literal closes at the end of the line');
    assert.ok(!script.split('\n').some((l) => l.trimStart().startsWith('Write-Host pwned')));
    assert.throws(() => exchangeOnlineSetupScript({ ...acme, tenantName: name }), SetupInputError, 'control characters are refused');
  });

  test('bad domains, host names and addresses are refused', () => {
    for (const domains of [["acme.test'; Remove-Mailbox"], ['-acme.test'], ['acme'], ['acme..test'], [], ['a b.test']]) {
      assert.throws(() => exchangeOnlineSetupScript({ ...acme, domains }), SetupInputError, JSON.stringify(domains));
    }
    assert.throws(() => exchangeOnlineSetupScript({ ...acme, gatewayHost: "mx.example'" }), SetupInputError);
    assert.throws(() => exchangeOnPremisesSetupScript({ ...acme, gatewayIps: ['203.0.113.0/24'] }), SetupInputError);
    assert.throws(() => dnsRecordsToPublish({ ...acme, tlsCertificateName: 'not a name' }), SetupInputError);
  });

  test('DNS: an MX record per domain to the gateway and an SPF record allowing it', () => {
    const records = dnsRecordsToPublish({ ...acme, gatewayIps: ['203.0.113.25', '2001:db8::25'] });
    assert.deepEqual(
      records.map((r) => [r.type, r.name, r.value, r.priority]),
      [
        ['MX', 'acme.test.', 'mx.sealpost.example.', 10],
        ['TXT', 'acme.test.', 'v=spf1 ip4:203.0.113.25 ip6:2001:db8::25 a:mx.sealpost.example include:spf.protection.outlook.com -all', undefined],
        ['MX', 'acme-law.test.', 'mx.sealpost.example.', 10],
        ['TXT', 'acme-law.test.', 'v=spf1 ip4:203.0.113.25 ip6:2001:db8::25 a:mx.sealpost.example include:spf.protection.outlook.com -all', undefined],
      ],
    );
    const onprem = dnsRecordsToPublish(acme, 'exchange-onprem');
    assert.equal(onprem[1]?.value, 'v=spf1 a:mx.sealpost.example mx -all');
  });

  test('the committed examples in infra/ are what the generator produces for the sample tenant', () => {
    const read = (path: string) => readFileSync(new URL(`../../infra/${path}`, import.meta.url), 'utf8').replace(/^\uFEFF/, '');
    assert.equal(read('exchange-online/connect-sealpost.ps1'), exchangeOnlineSetupScript(SAMPLE_SETUP_INPUT));
    assert.equal(read('exchange-onprem/connect-sealpost.ps1'), exchangeOnPremisesSetupScript(SAMPLE_SETUP_INPUT));
    for (const record of dnsRecordsToPublish(SAMPLE_SETUP_INPUT)) assert.ok(read('dns/records.md').includes(record.value));
  });
});
