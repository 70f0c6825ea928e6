/** Prints the passwordHash for a connector's smtpAuth in the tenant file: npm run hash-password -- 'secret' */
import { hashPassword } from '../backend/src/tenants/secrets.ts';

const password = process.argv[2];
if (!password) {
  process.stderr.write("usage: npm run hash-password -- 'the password'\n");
  process.exit(2);
}
process.stdout.write(`${await hashPassword(password)}\n`);
