/**
 * A request body's schema complaints as the console's field errors (common/src/portal-api.ts), so a page
 * shows each message next to its field: `/notificationTemplates/de/html` is `notificationTemplates.de.html`.
 */
import type { PortalFieldError } from '../../../common/src/portal-api.ts';

const TYPE_WORDS: Record<string, string> = { integer: 'a whole number', string: 'text', boolean: 'true or false', object: 'an object', null: 'null' };

export function schemaFieldErrors(
  validation: ReadonlyArray<{ instancePath: string; keyword: string; params: Record<string, unknown> }> | undefined,
): PortalFieldError[] {
  const byField = new Map<string, PortalFieldError>();
  for (const issue of validation ?? []) {
    const path = issue.instancePath.replace(/^\//, '').split('/').join('.');
    // A missing or unknown property is named by the property, not by the object that should hold it.
    const named = issue.keyword === 'required' ? issue.params.missingProperty : issue.keyword === 'additionalProperties' ? issue.params.additionalProperty : undefined;
    const field = (typeof named === 'string' ? (path ? `${path}.${named}` : named) : path) || 'body';
    if (byField.has(field)) continue;
    if (issue.keyword === 'enum') {
      const allowed = ((issue.params.allowedValues as unknown[] | undefined) ?? []).filter((v) => v !== null).join(', ');
      byField.set(field, { field, message: `${field}: must be one of ${allowed}`, rule: 'one-of', limit: allowed });
    } else if (issue.keyword === 'required') {
      byField.set(field, { field, message: `${field}: is required`, rule: 'required' });
    } else if (issue.keyword === 'additionalProperties') {
      byField.set(field, { field, message: `${field}: is not a field of this request`, rule: 'unknown-field' });
    } else if (issue.keyword === 'maxLength') {
      const limit = Number(issue.params.limit);
      byField.set(field, { field, message: `${field}: must be at most ${limit} characters`, rule: 'too-long', limit });
    } else {
      const types = [issue.params.type ?? 'object'].flat().map((t) => TYPE_WORDS[String(t)] ?? String(t));
      byField.set(field, { field, message: `${field}: must be ${types.join(' or ')}`, rule: 'type' });
    }
  }
  return [...byField.values()];
}
