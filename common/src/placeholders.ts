/** Fills `{name}` placeholders of a UI string; a placeholder without a value stays as it is. */
export function fillPlaceholders(text: string, values?: Record<string, string | number>): string {
  if (!values) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A mail template's `{{ name }}` placeholders (spaces inside the braces allowed). */
const TEMPLATE_PLACEHOLDER = /\{\{\s*(\w+)\s*\}\}/g;

/**
 * Fills `{{name}}` placeholders of a mail template (notifications, notices); HTML-escapes the values for an
 * HTML part. A placeholder without a value stays as it is. The gateway's mails and the portal's preview of
 * them both fill templates here, so the preview shows what the mail will say.
 */
export function fillTemplate(template: string, values: Record<string, string>, html: boolean): string {
  return template.replace(TEMPLATE_PLACEHOLDER, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) return whole;
    return html ? escapeHtml(value) : value;
  });
}

/** The names of the `{{name}}` placeholders a template uses, in order, each once. */
export function templatePlaceholders(template: string): string[] {
  const names = new Set<string>();
  for (const match of template.matchAll(TEMPLATE_PLACEHOLDER)) names.add(match[1]!);
  return [...names];
}
