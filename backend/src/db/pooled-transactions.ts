/**
 * drizzle-orm's node-postgres transaction sends BEGIN before entering its try/finally, so when BEGIN fails
 * (the connection dropped during a database outage) the pooled client is never released. Each failed
 * transaction would then hold a connection forever, and after enough of them the gateway could not use the
 * database again even when it is back. This installs the same transaction logic with BEGIN inside the
 * try, so every client goes back to the pool (which discards broken ones), and a failing ROLLBACK does not
 * hide the error that caused it.
 */
import { sql } from 'drizzle-orm';
import { NodePgSession, NodePgTransaction } from 'drizzle-orm/node-postgres/session';

let installed = false;

export function releasePooledClientsOnFailedTransactions(): void {
  if (installed) return;
  installed = true;
  type Internals = {
    client: { connect(): Promise<{ release(error?: Error): void }> } & object;
    dialect: unknown;
    schema: unknown;
    options: unknown;
  };
  const prototype = NodePgSession.prototype as unknown as {
    transaction(this: Internals, run: (tx: NodePgTransaction<never, never>) => Promise<unknown>, config?: unknown): Promise<unknown>;
  };
  prototype.transaction = async function transaction(this: Internals, run, config) {
    const isPool = 'totalCount' in this.client;
    const client = isPool ? await this.client.connect() : undefined;
    const Session = NodePgSession as unknown as new (...args: unknown[]) => object;
    const Transaction = NodePgTransaction as unknown as new (...args: unknown[]) => NodePgTransaction<never, never> & {
      getTransactionConfigSQL(config: unknown): ReturnType<typeof sql>;
    };
    const session = client ? new Session(client, this.dialect, this.schema, this.options) : this;
    const tx = new Transaction(this.dialect, session, this.schema);
    try {
      await tx.execute(sql`begin${config ? sql` ${tx.getTransactionConfigSQL(config)}` : undefined}`);
      const result = await run(tx);
      await tx.execute(sql`commit`);
      return result;
    } catch (error) {
      await tx.execute(sql`rollback`).catch(() => undefined);
      throw error;
    } finally {
      client?.release();
    }
  };
}
