/**
 * The inbound checks' sources outside the message, as the operator configured them: the GeoIP database
 * (SEALPOST_GEOIP_DB) and the DNS servers sender authentication asks (SEALPOST_DNS_SERVERS).
 */
import { createLinkFollower } from './link-follower.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { GuardServices } from './contract.ts';
import { createDnsResolver } from './dns-resolver.ts';
import { openGeoIpDatabase } from './geoip.ts';

export async function guardOutsideSources(
  settings: Config['guard'],
  logger: Logger,
): Promise<Pick<GuardServices, 'geoip' | 'resolver' | 'linkFollower' | 'linkFollowTimeoutMs'>> {
  const geoip = settings.geoipDatabase ? await openGeoIpDatabase(settings.geoipDatabase, logger) : undefined;
  return {
    ...(geoip ? { geoip } : {}),
    resolver: createDnsResolver({ servers: settings.dnsServers, timeoutMs: settings.dnsTimeoutMs }),
    linkFollower: createLinkFollower({ timeoutMs: settings.linkFollowTimeoutMs, maxHops: 5, allow: settings.linkFollowAllow }),
    linkFollowTimeoutMs: settings.linkFollowTimeoutMs,
  };
}
