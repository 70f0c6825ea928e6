/**
 * The reference receiver: a private Postfix instance with its own configuration, queue and data directories in a
 * temporary folder. It listens on 127.0.0.1 only, relays everything from 127.0.0.0/8 to one next hop (the sink)
 * and does no local delivery. Queue files are written with Postfix's normal durability (fsync before 250).
 * The machine's default Postfix instance is neither read nor changed.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, onRelease, sleep, stopProcess } from './bench-resources.ts';
import { processesWithEnvironment, readProcessMemory } from './process-memory.ts';

const execFileAsync = promisify(execFile);
const POSTFIX = '/usr/sbin/postfix';

export interface PostfixInstanceOptions {
  smtpPort: number;
  relayPort: number;
  /** Keep the temporary folder after the run (for debugging). */
  keep?: boolean;
}

export function mainCf(dirs: { queue: string; data: string; log: string; root: string }, options: PostfixInstanceOptions) {
  return `# Private Postfix instance of the Sealpost SMTP benchmark (written by scripts/bench/postfix-reference.ts)
compatibility_level = 3.6
queue_directory = ${dirs.queue}
data_directory = ${dirs.data}
mail_owner = postfix
setgid_group = postdrop

myhostname = reference.bench.test
mydomain = bench.test
myorigin = $myhostname

# Loopback only; the listener itself is the explicit 127.0.0.1:PORT line in master.cf.
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8

# Relay everything to the sink; no local delivery at all.
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = error:local delivery is disabled in the benchmark instance
relayhost = [127.0.0.1]:${options.relayPort}
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_client_event_limit_exceptions = $mynetworks

# No TLS on loopback, no notifications to local users.
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
append_dot_mydomain = no

# Sane process limits: enough smtpd processes for every load session plus the probe connections.
default_process_limit = 150

# There is no syslog: log to a file in the temporary folder.
maillog_file = ${dirs.log}
maillog_file_prefixes = ${dirs.root}
`;
}

export function masterCf(options: PostfixInstanceOptions) {
  // service type private unpriv chroot wakeup maxproc command
  return `# Private Postfix instance of the Sealpost SMTP benchmark: no chroot, SMTP on 127.0.0.1 only.
127.0.0.1:${options.smtpPort} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
`;
}

export class PostfixInstance {
  private started = false;

  private constructor(
    readonly root: string,
    readonly configDir: string,
    readonly queueDir: string,
    readonly dataDir: string,
    readonly logFile: string,
    readonly options: PostfixInstanceOptions,
  ) {}

  /** Writes main.cf and master.cf into a new temporary folder and checks the configuration. */
  static async create(options: PostfixInstanceOptions): Promise<PostfixInstance> {
    const root = makeTempDir('sealpost-bench-postfix-', options.keep);
    // Postfix daemons (user postfix) must be able to reach the queue below the temporary folder.
    chmodSync(root, 0o755);
    const configDir = join(root, 'etc');
    const queueDir = join(root, 'queue');
    const dataDir = join(root, 'data');
    const logFile = join(root, 'maillog');
    mkdirSync(configDir, { mode: 0o755 });
    mkdirSync(queueDir, { mode: 0o755 });
    mkdirSync(dataDir, { mode: 0o700 });
    writeFileSync(join(configDir, 'main.cf'), mainCf({ queue: queueDir, data: dataDir, log: logFile, root }, options));
    writeFileSync(join(configDir, 'master.cf'), masterCf(options));
    const instance = new PostfixInstance(root, configDir, queueDir, dataDir, logFile, options);
    // Registered before starting so that a failed start still cleans up.
    onRelease('stop Postfix reference instance', () => instance.stop());
    // Creates the queue sub-directories with the right owners, then checks the whole instance.
    await instance.postfix(['set-permissions']);
    await instance.postfix(['check']);
    return instance;
  }

  private async postfix(args: string[]): Promise<string> {
    try {
      const { stdout, stderr } = await execFileAsync(POSTFIX, ['-c', this.configDir, ...args], {
        env: { ...process.env, MAIL_CONFIG: this.configDir },
        timeout: 60_000,
      });
      return `${stdout}${stderr}`;
    } catch (error) {
      const e = error as { stderr?: string; stdout?: string; message: string };
      throw new Error(`postfix ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
    }
  }

  async start(): Promise<void> {
    this.started = true;
    await this.postfix(['start']);
    // Wait for the master and the listener.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.masterPid() !== undefined && (await portAnswers(this.options.smtpPort))) return;
      await sleep(100);
    }
    throw new Error(`Postfix reference instance did not answer on 127.0.0.1:${this.options.smtpPort}\n${this.logTail()}`);
  }

  /** The pid of the master process, from its pid file. */
  masterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.queueDir, 'pid', 'master.pid'), 'utf8').trim());
      return pid > 0 && existsSync(`/proc/${pid}`) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every process of this instance (all of them carry MAIL_CONFIG=<our config dir>). */
  processes(): number[] {
    return processesWithEnvironment('MAIL_CONFIG', this.configDir);
  }

  /** Sum of VmRSS over all processes of the instance, in bytes. */
  totalRss(): { rss: number; processes: number } {
    let rss = 0;
    let processes = 0;
    for (const pid of this.processes()) {
      const memory = readProcessMemory(pid);
      if (memory) {
        rss += memory.rss;
        processes++;
      }
    }
    return { rss, processes };
  }

  /** Queue files not yet delivered (incoming, active, deferred, hold, maildrop). */
  queuedMessages(): number {
    let count = 0;
    const walk = (dir: string) => {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return;
      }
      for (const entry of entries) {
        const path = join(dir, entry);
        try {
          if (statSync(path).isDirectory()) walk(path);
          else count++;
        } catch {
          // Moved between queues while we looked.
        }
      }
    };
    for (const queue of ['maildrop', 'incoming', 'active', 'deferred', 'hold']) walk(join(this.queueDir, queue));
    return count;
  }

  /** Counts of interesting log events (messages entering the queue manager, deliveries by status). */
  logCounts(): { queued: number; sent: number; deferred: number; bounced: number; rejected: number } {
    let text = '';
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      // No log yet.
    }
    const count = (pattern: RegExp) => text.match(pattern)?.length ?? 0;
    return {
      queued: count(/postfix\/qmgr\[\d+\]: \w+: from=<.*?>, size=\d+, nrcpt=\d+ \(queue active\)/g),
      sent: count(/ status=sent /g),
      deferred: count(/ status=deferred /g),
      bounced: count(/ status=bounced /g),
      rejected: count(/postfix\/smtpd\[\d+\]: NOQUEUE: reject:/g),
    };
  }

  logTail(lines = 15): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no maillog)';
    }
  }

  /** Stops the instance and kills whatever is left of it. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    try {
      await this.postfix(['stop']);
    } catch (error) {
      process.stderr.write(`bench: ${(error as Error).message}\n`);
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && this.processes().length > 0) await sleep(100);
    for (const pid of this.processes()) await stopProcess(pid, 1000);
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('data', (data) => done(data.toString('latin1').startsWith('220')));
    socket.once('error', () => done(false));
  });
}
