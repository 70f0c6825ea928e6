/** The sample organisation whose setup is committed under infra/ as an example for admins. */
import type { ExchangeSetupInput } from './exchange-setup.ts';

export const SAMPLE_SETUP_INPUT: ExchangeSetupInput = {
  tenantName: "O'Neil & Partner Rechtsanwälte",
  domains: ['oneil-partner.example', 'oneil-law.example'],
  gatewayHost: 'mx.sealpost.example',
  gatewayIps: ['203.0.113.25'],
  tlsCertificateName: 'mx.sealpost.example',
};
