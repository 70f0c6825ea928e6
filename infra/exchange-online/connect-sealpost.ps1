# Sealpost: connect Exchange Online to the Sealpost gateway
# Organisation: O'Neil & Partner Rechtsanwälte
# Domains: oneil-partner.example, oneil-law.example
# Gateway: mx.sealpost.example (TLS certificate mx.sealpost.example)
#
# Run in PowerShell 7 or Windows PowerShell 5.1 as an Exchange administrator:
#   Install-Module ExchangeOnlineManagement   (once)
#   Connect-ExchangeOnline -UserPrincipalName admin@your-domain
#   .\connect-sealpost.ps1
# Running it again updates what it created earlier; nothing else is changed.

#Requires -Modules ExchangeOnlineManagement
$ErrorActionPreference = 'Stop'

$TenantName = 'O''Neil & Partner Rechtsanwälte'
$GatewayHost = 'mx.sealpost.example'
$TlsCertificateName = 'mx.sealpost.example'
$OutboundConnectorName = 'Sealpost Outbound'
$InboundConnectorName = 'Sealpost Inbound'

# 1. Outbound connector: Microsoft 365 hands mail to the gateway over TLS and checks its certificate.
#    It is used only where the routing rule below sends mail to it. Partner, not OnPremises: the gateway
#    is a service outside the organisation (see the README for why).
$outbound = @{
    ConnectorType         = 'Partner'
    SmartHosts            = @($GatewayHost)
    UseMXRecord           = $false
    TlsSettings           = 'DomainValidation'
    TlsDomain             = $TlsCertificateName
    IsTransportRuleScoped = $true
    Enabled               = $true
    Comment               = "Sealpost gateway for $TenantName"
}
if (Get-OutboundConnector -Identity $OutboundConnectorName -ErrorAction SilentlyContinue) {
    Set-OutboundConnector -Identity $OutboundConnectorName @outbound
    Write-Host "Updated OutboundConnector $($OutboundConnectorName)"
} else {
    New-OutboundConnector -Name $OutboundConnectorName @outbound | Out-Null
    Write-Host "Created OutboundConnector $($OutboundConnectorName)"
}

# 2. Inbound connector: mail from the gateway is accepted only over TLS with its certificate.
#    Partner: RestrictDomainsToCertificate applies to Partner connectors only, and an OnPremises connector
#    would let mail from the gateway relay through Microsoft 365 and count as internal.
$inbound = @{
    ConnectorType                = 'Partner'
    SenderDomains                = @('*')
    RequireTls                   = $true
    TlsSenderCertificateName     = $TlsCertificateName
    RestrictDomainsToCertificate = $true
    SenderIPAddresses            = @('203.0.113.25')
    RestrictDomainsToIPAddresses = $false
    Enabled                      = $true
    Comment                      = "Sealpost gateway for $TenantName"
}
if (Get-InboundConnector -Identity $InboundConnectorName -ErrorAction SilentlyContinue) {
    Set-InboundConnector -Identity $InboundConnectorName @inbound
    Write-Host "Updated InboundConnector $($InboundConnectorName)"
} else {
    New-InboundConnector -Name $InboundConnectorName @inbound | Out-Null
    Write-Host "Created InboundConnector $($InboundConnectorName)"
}

# 3. Transport rules: routing through the gateway first (priority 0), then junk classification (priority 1).
# Rules of an earlier version of this script, replaced by the exception on the routing rule below.
$legacyRule = 'Sealpost: mail handed back for oneil-partner.example'
if (Get-TransportRule -Identity $legacyRule -ErrorAction SilentlyContinue) {
    Remove-TransportRule -Identity $legacyRule -Confirm:$false
    Write-Host "Removed TransportRule $legacyRule"
}
$legacyRule = 'Sealpost: mail handed back for oneil-law.example'
if (Get-TransportRule -Identity $legacyRule -ErrorAction SilentlyContinue) {
    Remove-TransportRule -Identity $legacyRule -Confirm:$false
    Write-Host "Removed TransportRule $legacyRule"
}

# Everything the organisation sends goes through the gateway, except mail it handed back already (it
# carries X-Sealpost-oneil-law-example: true), calendar items and messages with a null sender (delivery reports).
$ruleName = 'Sealpost: route outbound mail through the gateway'
$rule = @{
    FromScope                           = 'InOrganization'
    SenderAddressLocation               = 'HeaderOrEnvelope'
    RouteMessageOutboundConnector       = $OutboundConnectorName
    ExceptIfHeaderMatchesMessageHeader  = 'X-Sealpost-oneil-law-example'
    ExceptIfHeaderMatchesPatterns       = @('^true$')
    ExceptIfMessageTypeMatches          = 'Calendaring'
    ExceptIfHeaderContainsMessageHeader = 'Return-Path'
    ExceptIfHeaderContainsWords         = @('<>')
    ExceptIfFromAddressMatchesPatterns  = @('^<>$')
    Priority                            = 0
    Mode                                = 'Enforce'
    Comments                            = 'Sealpost outbound routing'
}
if (Get-TransportRule -Identity $ruleName -ErrorAction SilentlyContinue) {
    Set-TransportRule -Identity $ruleName @rule
    Write-Host "Updated TransportRule $($ruleName)"
} else {
    New-TransportRule -Name $ruleName @rule | Out-Null
    Write-Host "Created TransportRule $($ruleName)"
}

# Inbound mail the gateway scored as suspicious arrives with X-Sealpost-Flag: YES; Outlook files it as junk.
$ruleName = 'Sealpost: flagged mail is junk (SCL 7)'
$rule = @{
    HeaderMatchesMessageHeader = 'X-Sealpost-Flag'
    HeaderMatchesPatterns      = @('^YES$')
    SetSCL                     = 7
    Priority                   = 1
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
