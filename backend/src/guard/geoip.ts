/**
 * The operator's GeoIP database (SEALPOST_GEOIP_DB, MaxMind mmdb format: GeoLite2/GeoIP2 Country or City,
 * or any database with the same `country` records). Read once at start-up into memory with the maxmind
 * package; a lookup is then a walk of the file's search tree, a few microseconds.
 *
 * A path that is configured but cannot be read is a start failure, never a gateway that silently ignores
 * its country rules. With no database at all, country rules are not applied and say so (geoIpStatus, and
 * a NET_GEOIP_INACTIVE finding on each message whose policy has country rules).
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Reader, type CountryResponse } from 'maxmind';
import type { Logger } from '../logger.ts';
import type { GeoIpLookup, GuardServices } from './contract.ts';

/** The typed record; a database of another kind may lack any field, so every read below is optional. */
type CountryRecord = CountryResponse;

const ISO_CODE = /^[A-Z]{2}$/;

export async function openGeoIpDatabase(path: string, logger: Logger): Promise<GeoIpLookup> {
  let reader: Reader<CountryRecord>;
  try {
    const bytes = await readFile(path);
    reader = new Reader<CountryRecord>(bytes);
  } catch (error) {
    throw new Error(
      `SEALPOST_GEOIP_DB: the GeoIP database ${path} cannot be read (${(error as Error).message}); give a MaxMind mmdb file or unset SEALPOST_GEOIP_DB`,
    );
  }
  const metadata = reader.metadata;
  // The reader gives the build time as a Date (older versions: seconds since the epoch).
  const epoch: unknown = metadata.buildEpoch;
  const built = epoch instanceof Date ? epoch : new Date(Number(epoch) * 1000);
  const builtText = Number.isNaN(built.getTime()) ? 'unknown build date' : `built ${built.toISOString().slice(0, 10)}`;
  const description = `${path} (${metadata.databaseType}, ${builtText})`;
  logger.info({ geoip: description }, 'GeoIP database opened');
  return {
    description,
    country(ip: string): string | undefined {
      const address = plainAddress(ip);
      if (!address) return undefined;
      let record: CountryRecord | null;
      try {
        record = reader.get(address);
      } catch {
        return undefined;
      }
      const code = record?.country?.iso_code ?? record?.registered_country?.iso_code;
      return typeof code === 'string' && ISO_CODE.test(code) ? code : undefined;
    },
  };
}

/** An address as the database wants it: IPv4-mapped IPv6 (::ffff:192.0.2.7) read as the IPv4 address; garbage as nothing. */
export function plainAddress(ip: string): string | undefined {
  if (typeof ip !== 'string' || ip.length > 64) return undefined;
  const mapped = ip.toLowerCase().startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(mapped) === 4) return mapped;
  return isIP(ip) ? ip : undefined;
}

export type GeoIpStatus = { active: true; description: string } | { active: false; reason: string };

/** Whether country rules are applied, for the policy view. */
export function geoIpStatus(services: Pick<GuardServices, 'geoip'>): GeoIpStatus {
  return services.geoip
    ? { active: true, description: services.geoip.description }
    : { active: false, reason: 'no GeoIP database configured (SEALPOST_GEOIP_DB)' };
}
