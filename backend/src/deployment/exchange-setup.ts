/**
 * What an admin runs and publishes to put Sealpost into a Microsoft mail flow: a PowerShell script for
 * Exchange Online (connectors and transport rules), one for Exchange on-premises (Send and Receive
 * connectors), and the DNS records. Every value that reaches a script is checked first (domains, host
 * names, IP addresses) or written as a PowerShell single-quoted literal, so a tenant called
 * "O'Brien & Partners" cannot end a string early. Scripts are idempotent: run again, they update.
 */
import { isIP } from 'node:net';
import { HEADER_FLAG, loopHeaderName } from '../../../common/src/headers.ts';

export interface ExchangeSetupInput {
  tenantName: string;
  /** The tenant's mail domains (accepted domains in Exchange). */
  domains: string[];
  /** The Sealpost gateway's SMTP host name (smart host, MX target). */
  gatewayHost: string;
  /** The gateway's public addresses, if known: restrict the inbound side and go into SPF. */
  gatewayIps?: string[];
  /** The name in the gateway's TLS certificate, checked by Exchange in both directions. */
  tlsCertificateName: string;
}

/** Which input was wrong, so a form can put the message next to the field that needs fixing. */
export type SetupInputField = 'tenantName' | 'domains' | 'gatewayHost' | 'gatewayIps';

export class SetupInputError extends Error {
  override name = 'SetupInputError';
  constructor(
    message: string,
    readonly field: SetupInputField,
  ) {
    super(message);
  }
}

export const OUTBOUND_CONNECTOR_NAME = 'Sealpost Outbound';
export const INBOUND_CONNECTOR_NAME = 'Sealpost Inbound';
export const ROUTING_RULE_NAME = 'Sealpost: route outbound mail through the gateway';
export const SPAM_RULE_NAME = 'Sealpost: flagged mail is junk (SCL 7)';
/** Per-domain rules of earlier versions of the script, which marked mail the gateway handed back. */
export const LEGACY_MARKER_RULE_PREFIX = 'Sealpost: mail handed back for ';

const HOST_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DOMAIN = new RegExp(`^(?=.{1,253}$)(?:${HOST_LABEL}\\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$`, 'i');
const CERTIFICATE_NAME = new RegExp(`^(?:\\*\\.)?(?=.{1,253}$)(?:${HOST_LABEL}\\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$`, 'i');

/**
 * A PowerShell single-quoted literal. PowerShell also ends single-quoted strings at the typographic
 * quotes U+2018..U+201B, so those are doubled as well.
 */
export function psQuote(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201A\u201B]/g, (quote) => quote + quote)}'`;
}

/** Text for a comment line: nothing that could start a new line of code. */
function commentText(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, ' ').slice(0, 200);
}

export interface CheckedSetupInput extends ExchangeSetupInput {
  domains: string[];
  gatewayIps: string[];
}

export function checkSetupInput(input: ExchangeSetupInput): CheckedSetupInput {
  const tenantName = input.tenantName.trim();
  if (!tenantName || tenantName.length > 200 || /[\u0000-\u001f\u007f]/.test(tenantName)) {
    throw new SetupInputError('the tenant name must be 1 to 200 characters without control characters', 'tenantName');
  }
  if (input.domains.length === 0) throw new SetupInputError('at least one domain is needed', 'domains');
  const domains = [...new Set(input.domains.map((d) => d.trim().toLowerCase()))];
  for (const domain of domains) {
    if (!DOMAIN.test(domain)) throw new SetupInputError(`"${commentText(domain)}" is not a domain name`, 'domains');
  }
  const gatewayHost = input.gatewayHost.trim().toLowerCase();
  if (!DOMAIN.test(gatewayHost)) {
    throw new SetupInputError(
      `"${commentText(gatewayHost)}" is not a fully qualified host name that Exchange can reach as the gateway: ` +
        'give the name under which the gateway is reached from the Internet, such as mail.example.com ' +
        '(set SEALPOST_HOSTNAME to it, or pass it with the request as gatewayHost)',
      'gatewayHost',
    );
  }
  const tlsCertificateName = input.tlsCertificateName.trim().toLowerCase();
  if (!CERTIFICATE_NAME.test(tlsCertificateName)) {
    throw new SetupInputError(`"${commentText(tlsCertificateName)}" is not a certificate host name`, 'gatewayHost');
  }
  const gatewayIps = [...new Set((input.gatewayIps ?? []).map((ip) => ip.trim()))];
  for (const ip of gatewayIps) {
    if (isIP(ip) === 0) throw new SetupInputError(`"${commentText(ip)}" is not an IP address`, 'gatewayIps');
  }
  return { tenantName, domains, gatewayHost, gatewayIps, tlsCertificateName };
}

function psArray(values: string[]): string {
  return `@(${values.map(psQuote).join(', ')})`;
}

/** Splats `parameters` into New-* or Set-* depending on whether the object exists. */
function upsert(kind: string, nameVariable: string, parametersVariable: string): string {
  return [
    `if (Get-${kind} -Identity ${nameVariable} -ErrorAction SilentlyContinue) {`,
    `    Set-${kind} -Identity ${nameVariable} @${parametersVariable}`,
    `    Write-Host "Updated ${kind} $(${nameVariable})"`,
    `} else {`,
    `    New-${kind} -Name ${nameVariable} @${parametersVariable} | Out-Null`,
    `    Write-Host "Created ${kind} $(${nameVariable})"`,
    `}`,
  ].join('\n');
}

function header(title: string, input: CheckedSetupInput, usage: string[]): string {
  return [
    `# ${title}`,
    `# Organisation: ${commentText(input.tenantName)}`,
    `# Domains: ${input.domains.join(', ')}`,
    `# Gateway: ${input.gatewayHost} (TLS certificate ${input.tlsCertificateName})`,
    '#',
    ...usage.map((line) => `# ${line}`),
    '# Running it again updates what it created earlier; nothing else is changed.',
    '',
  ].join('\n');
}

/**
 * The loop header the routing rule excepts. The gateway writes the loop header of every domain of the
 * tenant on each message it hands back (mail/outgoing-message.ts), so one exception covers them all; the
 * first domain in alphabetical order keeps the script the same however the domains are listed.
 */
export function routingExceptionHeader(domains: readonly string[]): string {
  return loopHeaderName([...domains].sort()[0]!);
}

/** Earlier versions marked handed-back mail with one rule per domain; the single exception replaces them. */
function removeLegacyMarkerRules(domains: string[]): string {
  return [
    '# Rules of an earlier version of this script, replaced by the exception on the routing rule below.',
    ...domains.map((domain) =>
      [
        `$legacyRule = ${psQuote(`${LEGACY_MARKER_RULE_PREFIX}${domain}`)}`,
        'if (Get-TransportRule -Identity $legacyRule -ErrorAction SilentlyContinue) {',
        '    Remove-TransportRule -Identity $legacyRule -Confirm:$false',
        '    Write-Host "Removed TransportRule $legacyRule"',
        '}',
      ].join('\n'),
    ),
    '',
  ].join('\n');
}

function spamRule(priority: number): string {
  return [
    `# Inbound mail the gateway scored as suspicious arrives with ${HEADER_FLAG}: YES; Outlook files it as junk.`,
    `$ruleName = ${psQuote(SPAM_RULE_NAME)}`,
    '$rule = @{',
    `    HeaderMatchesMessageHeader = ${psQuote(HEADER_FLAG)}`,
    `    HeaderMatchesPatterns      = @('^YES$')`,
    '    SetSCL                     = 7',
    `    Priority                   = ${priority}`,
    `    Mode                       = 'Enforce'`,
    `    Comments                   = 'Sealpost spam classification'`,
    '}',
    upsert('TransportRule', '$ruleName', 'rule'),
    '',
  ].join('\n');
}

export function exchangeOnlineSetupScript(raw: ExchangeSetupInput): string {
  const input = checkSetupInput(raw);
  const inboundRestriction = input.gatewayIps.length
    ? [`    SenderIPAddresses            = ${psArray(input.gatewayIps)}`, '    RestrictDomainsToIPAddresses = $false']
    : [];
  return [
    header('Sealpost: connect Exchange Online to the Sealpost gateway', input, [
      'Run in PowerShell 7 or Windows PowerShell 5.1 as an Exchange administrator:',
      '  Install-Module ExchangeOnlineManagement   (once)',
      '  Connect-ExchangeOnline -UserPrincipalName admin@your-domain',
      '  .\\connect-sealpost.ps1',
    ]),
    "#Requires -Modules ExchangeOnlineManagement",
    "$ErrorActionPreference = 'Stop'",
    '',
    `$TenantName = ${psQuote(input.tenantName)}`,
    `$GatewayHost = ${psQuote(input.gatewayHost)}`,
    `$TlsCertificateName = ${psQuote(input.tlsCertificateName)}`,
    `$OutboundConnectorName = ${psQuote(OUTBOUND_CONNECTOR_NAME)}`,
    `$InboundConnectorName = ${psQuote(INBOUND_CONNECTOR_NAME)}`,
    '',
    '# 1. Outbound connector: Microsoft 365 hands mail to the gateway over TLS and checks its certificate.',
    '#    It is used only where the routing rule below sends mail to it. Partner, not OnPremises: the gateway',
    '#    is a service outside the organisation (see the README for why).',
    '$outbound = @{',
    "    ConnectorType         = 'Partner'",
    '    SmartHosts            = @($GatewayHost)',
    '    UseMXRecord           = $false',
    "    TlsSettings           = 'DomainValidation'",
    '    TlsDomain             = $TlsCertificateName',
    '    IsTransportRuleScoped = $true',
    '    Enabled               = $true',
    '    Comment               = "Sealpost gateway for $TenantName"',
    '}',
    upsert('OutboundConnector', '$OutboundConnectorName', 'outbound'),
    '',
    '# 2. Inbound connector: mail from the gateway is accepted only over TLS with its certificate.',
    '#    Partner: RestrictDomainsToCertificate applies to Partner connectors only, and an OnPremises connector',
    '#    would let mail from the gateway relay through Microsoft 365 and count as internal.',
    '$inbound = @{',
    "    ConnectorType                = 'Partner'",
    "    SenderDomains                = @('*')",
    '    RequireTls                   = $true',
    '    TlsSenderCertificateName     = $TlsCertificateName',
    '    RestrictDomainsToCertificate = $true',
    ...inboundRestriction,
    '    Enabled                      = $true',
    '    Comment                      = "Sealpost gateway for $TenantName"',
    '}',
    upsert('InboundConnector', '$InboundConnectorName', 'inbound'),
    '',
    '# 3. Transport rules: routing through the gateway first (priority 0), then junk classification (priority 1).',
    removeLegacyMarkerRules(input.domains),
    '# Everything the organisation sends goes through the gateway, except mail it handed back already (it',
    `# carries ${routingExceptionHeader(input.domains)}: true), calendar items and messages with a null sender (delivery reports).`,
    `$ruleName = ${psQuote(ROUTING_RULE_NAME)}`,
    '$rule = @{',
    "    FromScope                           = 'InOrganization'",
    "    SenderAddressLocation               = 'HeaderOrEnvelope'",
    '    RouteMessageOutboundConnector       = $OutboundConnectorName',
    `    ExceptIfHeaderMatchesMessageHeader  = ${psQuote(routingExceptionHeader(input.domains))}`,
    "    ExceptIfHeaderMatchesPatterns       = @('^true$')",
    "    ExceptIfMessageTypeMatches          = 'Calendaring'",
    "    ExceptIfHeaderContainsMessageHeader = 'Return-Path'",
    "    ExceptIfHeaderContainsWords         = @('<>')",
    "    ExceptIfFromAddressMatchesPatterns  = @('^<>$')",
    '    Priority                            = 0',
    "    Mode                                = 'Enforce'",
    "    Comments                            = 'Sealpost outbound routing'",
    '}',
    upsert('TransportRule', '$ruleName', 'rule'),
    '',
    spamRule(1),
    "Write-Host 'Done. Publish the DNS records next, then send a test message.'",
    '',
  ].join('\n');
}

export function exchangeOnPremisesSetupScript(raw: ExchangeSetupInput): string {
  const input = checkSetupInput(raw);
  const ipParameter = input.gatewayIps.length
    ? `[string[]] $GatewayIpAddresses = ${psArray(input.gatewayIps)},`
    : '[Parameter(Mandatory = $true)] [string[]] $GatewayIpAddresses,';
  return [
    header('Sealpost: connect Exchange Server (on-premises) to the Sealpost gateway', input, [
      'Run in the Exchange Management Shell on a Mailbox server:',
      '  .\\connect-sealpost.ps1 -Server EX01 [-SourceTransportServers EX01,EX02] [-GatewayIpAddresses 203.0.113.25]',
      'Open port 25 from the gateway addresses to the server in the firewall.',
    ]),
    'param(',
    '    # The Mailbox server whose Frontend Transport service receives mail from the gateway.',
    '    [Parameter(Mandatory = $true)] [string] $Server,',
    '    # The servers that send through the gateway (default: the server above).',
    '    [string[]] $SourceTransportServers = @(),',
    '    # The gateway addresses allowed to use the Receive connector.',
    `    ${ipParameter}`,
    `    [string] $ConnectorNamePrefix = 'Sealpost'`,
    ')',
    "$ErrorActionPreference = 'Stop'",
    'if ($SourceTransportServers.Count -eq 0) { $SourceTransportServers = @($Server) }',
    '',
    `$TenantName = ${psQuote(input.tenantName)}`,
    `$GatewayHost = ${psQuote(input.gatewayHost)}`,
    `$TlsCertificateName = ${psQuote(input.tlsCertificateName)}`,
    '$SendConnectorName = "$ConnectorNamePrefix Outbound"',
    '$ReceiveConnectorName = "$ConnectorNamePrefix Inbound"',
    '',
    '# 1. Send connector: all mail to the Internet goes to the gateway over TLS, its certificate checked.',
    '#    No transport rule is needed to send it there: Exchange Server routes by address space, and this',
    '#    connector (address space *, cost 1) is the route to every domain outside the organisation, so every',
    '#    message leaving it reaches the gateway. (Routing a message to a connector by rule, and outbound',
    '#    connectors, exist in Exchange Online only.) Mail between your own users is delivered by Exchange',
    '#    itself and does not pass the gateway. Mail the gateway hands back is only ever for your own',
    '#    domains and is delivered locally, so it cannot loop through this connector.',
    '$send = @{',
    "    AddressSpaces          = @('SMTP:*;1')",
    '    SmartHosts             = @($GatewayHost)',
    '    DNSRoutingEnabled      = $false',
    "    SmartHostAuthMechanism = 'None'",
    '    RequireTLS             = $true',
    "    TlsAuthLevel           = 'DomainValidation'",
    '    TlsDomain              = $TlsCertificateName',
    '    SourceTransportServers = $SourceTransportServers',
    '    Enabled                = $true',
    '    Comment                = "Sealpost gateway for $TenantName"',
    '}',
    'if (Get-SendConnector -Identity $SendConnectorName -ErrorAction SilentlyContinue) {',
    '    Set-SendConnector -Identity $SendConnectorName @send',
    '    Write-Host "Updated SendConnector $SendConnectorName"',
    '} else {',
    "    New-SendConnector -Name $SendConnectorName -Usage 'Custom' @send | Out-Null",
    '    Write-Host "Created SendConnector $SendConnectorName"',
    '}',
    '',
    '# 2. Receive connector: only the gateway addresses, only over TLS, as a partner.',
    '$receive = @{',
    '    RemoteIPRanges   = $GatewayIpAddresses',
    '    RequireTLS       = $true',
    "    AuthMechanism    = 'Tls'",
    "    PermissionGroups = 'AnonymousUsers, Partners'",
    '    Enabled          = $true',
    '    Comment          = "Sealpost gateway for $TenantName, certificate $TlsCertificateName"',
    '}',
    '$receiveIdentity = "$Server\\$ReceiveConnectorName"',
    'if (Get-ReceiveConnector -Identity $receiveIdentity -ErrorAction SilentlyContinue) {',
    '    Set-ReceiveConnector -Identity $receiveIdentity @receive',
    '    Write-Host "Updated ReceiveConnector $receiveIdentity"',
    '} else {',
    "    New-ReceiveConnector -Name $ReceiveConnectorName -Server $Server -TransportRole 'FrontendTransport' -Bindings @('0.0.0.0:25') -Usage 'Custom' @receive | Out-Null",
    '    Write-Host "Created ReceiveConnector $receiveIdentity"',
    '}',
    '# Exchange Server cannot pin the certificate name of a connector that receives mail for any sender',
    '# domain, so the address list above is what limits this connector to the gateway.',
    '',
    '# 3. Transport rule: junk classification of mail the gateway flagged (the only rule here, so priority 0).',
    spamRule(0),
    "Write-Host 'Done. Publish the DNS records next, then send a test message.'",
    '',
  ].join('\n');
}

export interface DnsRecord {
  type: 'MX' | 'TXT';
  /** The owner name, fully qualified. */
  name: string;
  value: string;
  priority?: number;
  ttl: number;
  purpose: string;
}

/**
 * MX records pointing every domain at the gateway, and SPF allowing the gateway (and, for Exchange
 * Online, Microsoft 365, which still sends calendar items and delivery reports itself).
 */
export function dnsRecordsToPublish(raw: ExchangeSetupInput, platform: 'exchange-online' | 'exchange-onprem' = 'exchange-online'): DnsRecord[] {
  const input = checkSetupInput(raw);
  const mechanisms = [
    ...input.gatewayIps.map((ip) => (isIP(ip) === 6 ? `ip6:${ip}` : `ip4:${ip}`)),
    `a:${input.gatewayHost}`,
    ...(platform === 'exchange-online' ? ['include:spf.protection.outlook.com'] : ['mx']),
  ];
  const records: DnsRecord[] = [];
  for (const domain of input.domains) {
    records.push({
      type: 'MX',
      name: `${domain}.`,
      value: `${input.gatewayHost}.`,
      priority: 10,
      ttl: 3600,
      purpose: `Mail for ${domain} arrives at the Sealpost gateway, which scores it and hands it to Exchange.`,
    });
    records.push({
      type: 'TXT',
      name: `${domain}.`,
      value: `v=spf1 ${[...new Set(mechanisms)].join(' ')} -all`,
      ttl: 3600,
      purpose: `SPF: the gateway may send for ${domain}. Replace your existing SPF record (a domain has only one); keep mechanisms for other senders you use.`,
    });
  }
  return records;
}

/** The records as a zone-file fragment. */
export function formatDnsRecords(records: DnsRecord[]): string {
  return records
    .map((r) =>
      r.type === 'MX'
        ? `${r.name}\t${r.ttl}\tIN\tMX\t${r.priority ?? 10} ${r.value}`
        : `${r.name}\t${r.ttl}\tIN\tTXT\t"${r.value.replace(/["\\]/g, (c) => `\\${c}`)}"`,
    )
    .join('\n');
}
