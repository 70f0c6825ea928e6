/** Classify: which tenant the message belongs to, which way it travels and through which connector it came. */
import type { Stage } from './stage.ts';

export const classifyStage: Stage = {
  name: 'classify',
  reaches: 'classified',
  async run(context, { directory }) {
    const tenant = directory.tenantById(context.tenantId);
    // Transient: a tenant added moments ago may not be in this process's directory yet.
    if (!tenant) throw new Error(`tenant ${context.tenantId} is unknown to this process`);
    context.tenant = tenant;
    context.results.classified = {
      direction: context.direction,
      tenantId: tenant.id,
      tenant: tenant.name,
      connector: context.connectorName,
    };
    context.trace.push({
      messageId: context.id,
      tenantId: tenant.id,
      step: 'classified',
      detail: { direction: context.direction, tenant: tenant.name },
    });
  },
};
