/**
 * The inbound checks' sources outside the message, as the operator configured them: the GeoIP database
 * (SEALPOST_GEOIP_DB) and the DNS servers sender authentication asks (SEALPOST_DNS_SERVERS).
 */
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { GuardServices } from './contract.ts';

export async function guardOutsideSources(
  settings: Config['guard'],
  logger: Logger,
): Promise<Pick<GuardServices, 'geoip' | 'resolver'>> {
  void settings;
  void logger;
  return {};
}
