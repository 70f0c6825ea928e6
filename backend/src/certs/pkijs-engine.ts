/** pkijs works over node's WebCrypto; every module that uses pkijs imports this first. */
import { webcrypto } from 'node:crypto';
import * as pkijs from 'pkijs';

pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as Crypto }));
