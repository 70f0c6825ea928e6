/**
 * Writes the committed examples under infra/ for the sample organisation:
 * `node --import tsx backend/src/deployment/write-infra-examples.ts`. A test checks they stay current.
 */
import { writeFileSync } from 'node:fs';
import { dnsRecordsToPublish, exchangeOnlineSetupScript, exchangeOnPremisesSetupScript, formatDnsRecords } from './exchange-setup.ts';
import { SAMPLE_SETUP_INPUT } from './sample-tenant.ts';

const infra = new URL('../../../infra/', import.meta.url);
// With a byte order mark, as the gateway serves them, so Windows PowerShell 5.1 reads UTF-8.
writeFileSync(new URL('exchange-online/connect-sealpost.ps1', infra), `\uFEFF${exchangeOnlineSetupScript(SAMPLE_SETUP_INPUT)}`);
writeFileSync(new URL('exchange-onprem/connect-sealpost.ps1', infra), `\uFEFF${exchangeOnPremisesSetupScript(SAMPLE_SETUP_INPUT)}`);

const online = dnsRecordsToPublish(SAMPLE_SETUP_INPUT, 'exchange-online');
const onprem = dnsRecordsToPublish(SAMPLE_SETUP_INPUT, 'exchange-onprem');
const table = (records: typeof online) =>
  [
    '| type | name | value | priority | TTL | why |',
    '|---|---|---|---|---|---|',
    ...records.map((r) => `| ${r.type} | \`${r.name}\` | \`${r.value}\` | ${r.priority ?? ''} | ${r.ttl} | ${r.purpose} |`),
  ].join('\n');
writeFileSync(
  new URL('dns/records.md', infra),
  `# DNS records for the sample organisation

Generated for "${SAMPLE_SETUP_INPUT.tenantName}" (${SAMPLE_SETUP_INPUT.domains.join(', ')}) with the gateway
\`${SAMPLE_SETUP_INPUT.gatewayHost}\` (${(SAMPLE_SETUP_INPUT.gatewayIps ?? []).join(', ')}). Your own records come from
\`GET /api/admin/setup/dns-records\` (add \`?platform=exchange-onprem\` for Exchange Server).

Change the MX records last, after the connectors and rules are in place and a test message went through:
from then on, mail from the Internet arrives at the gateway first.

## Exchange Online

${table(online)}

As a zone-file fragment:

\`\`\`
${formatDnsRecords(online)}
\`\`\`

## Exchange Server (on-premises)

${table(onprem)}

\`\`\`
${formatDnsRecords(onprem)}
\`\`\`

A domain has exactly one SPF record: merge these mechanisms into the existing one if other services
(newsletters, ticket systems) send for the domain too.
`,
);
console.log('infra/ examples written');
