# Sealpost: connect Exchange Server (on-premises) to the Sealpost gateway
# Organisation: O'Neil & Partner Rechtsanwälte
# Domains: oneil-partner.example, oneil-law.example
# Gateway: mx.sealpost.example (TLS certificate mx.sealpost.example)
#
# Run in the Exchange Management Shell on a Mailbox server:
#   .\connect-sealpost.ps1 -Server EX01 [-SourceTransportServers EX01,EX02] [-GatewayIpAddresses 203.0.113.25]
# Open port 25 from the gateway addresses to the server in the firewall.
# Running it again updates what it created earlier; nothing else is changed.

param(
    # The Mailbox server whose Frontend Transport service receives mail from the gateway.
    [Parameter(Mandatory = $true)] [string] $Server,
    # The servers that send through the gateway (default: the server above).
    [string[]] $SourceTransportServers = @(),
    # The gateway addresses allowed to use the Receive connector.
    [string[]] $GatewayIpAddresses = @('203.0.113.25'),
    [string] $ConnectorNamePrefix = 'Sealpost'
)
$ErrorActionPreference = 'Stop'
if ($SourceTransportServers.Count -eq 0) { $SourceTransportServers = @($Server) }

$TenantName = 'O''Neil & Partner Rechtsanwälte'
$GatewayHost = 'mx.sealpost.example'
$TlsCertificateName = 'mx.sealpost.example'
$SendConnectorName = "$ConnectorNamePrefix Outbound"
$ReceiveConnectorName = "$ConnectorNamePrefix Inbound"

# 1. Send connector: all mail to the Internet goes to the gateway over TLS, its certificate checked.
#    No transport rule is needed to send it there: Exchange Server routes by address space, and this
#    connector (address space *, cost 1) is the route to every domain outside the organisation, so every
#    message leaving it reaches the gateway. (Routing a message to a connector by rule, and outbound
#    connectors, exist in Exchange Online only.) Mail between your own users is delivered by Exchange
#    itself and does not pass the gateway. Mail the gateway hands back is only ever for your own
#    domains and is delivered locally, so it cannot loop through this connector.
$send = @{
    AddressSpaces          = @('SMTP:*;1')
    SmartHosts             = @($GatewayHost)
    DNSRoutingEnabled      = $false
    SmartHostAuthMechanism = 'None'
    RequireTLS             = $true
    TlsAuthLevel           = 'DomainValidation'
    TlsDomain              = $TlsCertificateName
    SourceTransportServers = $SourceTransportServers
    Enabled                = $true
    Comment                = "Sealpost gateway for $TenantName"
}
if (Get-SendConnector -Identity $SendConnectorName -ErrorAction SilentlyContinue) {
    Set-SendConnector -Identity $SendConnectorName @send
    Write-Host "Updated SendConnector $SendConnectorName"
} else {
    New-SendConnector -Name $SendConnectorName -Usage 'Custom' @send | Out-Null
    Write-Host "Created SendConnector $SendConnectorName"
}

# 2. Receive connector: only the gateway addresses, only over TLS, as a partner.
$receive = @{
    RemoteIPRanges   = $GatewayIpAddresses
    RequireTLS       = $true
    AuthMechanism    = 'Tls'
    PermissionGroups = 'AnonymousUsers, Partners'
    Enabled          = $true
    Comment          = "Sealpost gateway for $TenantName, certificate $TlsCertificateName"
}
$receiveIdentity = "$Server\$ReceiveConnectorName"
if (Get-ReceiveConnector -Identity $receiveIdentity -ErrorAction SilentlyContinue) {
    Set-ReceiveConnector -Identity $receiveIdentity @receive
    Write-Host "Updated ReceiveConnector $receiveIdentity"
} else {
    New-ReceiveConnector -Name $ReceiveConnectorName -Server $Server -TransportRole 'FrontendTransport' -Bindings @('0.0.0.0:25') -Usage 'Custom' @receive | Out-Null
    Write-Host "Created ReceiveConnector $receiveIdentity"
}
# Exchange Server cannot pin the certificate name of a connector that receives mail for any sender
# domain, so the address list above is what limits this connector to the gateway.

# 3. Transport rule: junk classification of mail the gateway flagged (the only rule here, so priority 0).
# Inbound mail the gateway scored as suspicious arrives with X-Sealpost-Flag: YES; Outlook files it as junk.
$ruleName = 'Sealpost: flagged mail is junk (SCL 7)'
$rule = @{
    HeaderMatchesMessageHeader = 'X-Sealpost-Flag'
    HeaderMatchesPatterns      = @('^YES$')
    SetSCL                     = 7
    Priority                   = 0
    Mode                       = 'Enforce'
    Comments                   = 'Sealpost spam classification'
}
if (Get-TransportRule -Identity $ruleName -ErrorAction SilentlyContinue) {
    Set-TransportRule -Identity $ruleName @rule
    Write-Host "Updated TransportRule $($ruleName)"
} else {
    New-TransportRule -Name $ruleName @rule | Out-Null
    Write-Host "Created TransportRule $($ruleName)"
}

Write-Host 'Done. Publish the DNS records next, then send a test message.'
