/** The operator's GeoIP database (SEALPOST_GEOIP_DB, MaxMind mmdb format). */
import type { Logger } from '../logger.ts';
import type { GeoIpLookup } from './contract.ts';

export async function openGeoIpDatabase(path: string, logger: Logger): Promise<GeoIpLookup | undefined> {
  throw new Error(`reading the GeoIP database ${path} is not built yet`);
}
