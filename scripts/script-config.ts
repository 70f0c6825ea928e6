/**
 * The gateway's configuration for the command-line scripts: a configuration that cannot be read ends the
 * script with its message and exit code 2, not a stack trace.
 */
import { ConfigurationError, loadConfig, type Config } from '../backend/src/config.ts';

export function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
}
