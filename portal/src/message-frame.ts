/**
 * The document a message's HTML is shown in: a sandboxed frame (no scripts) whose own Content Security
 * Policy allows no script, images only from the portal's message URLs and data: (and the open web once
 * the reader allowed remote content), and inline styles. Links open in a new tab without a referrer.
 */
export function messageFrameDocument(html: string, options: { allowRemote: boolean; origin: string; language: string }): string {
  const parsed = new DOMParser().parseFromString(html, 'text/html');
  // Nothing in the message may steer the frame: no refresh, no base URL, no script even if sanitising missed one.
  for (const element of parsed.querySelectorAll('script, meta, base, link, iframe, frame, object, embed, form')) element.remove();
  // Event handlers could never run in the frame (no scripts), but nothing of them is kept either.
  for (const element of parsed.querySelectorAll('*')) {
    for (const attribute of [...element.attributes]) if (/^on/i.test(attribute.name)) element.removeAttribute(attribute.name);
  }
  for (const link of parsed.querySelectorAll('a[href]')) {
    link.setAttribute('target', '_blank');
    link.setAttribute('rel', 'noopener noreferrer');
  }
  const images = [`${options.origin}/api/portal/messages/`, 'data:', ...(options.allowRemote ? ['http:', 'https:'] : [])].join(' ');
  const policy = `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; form-action 'none'`;
  return (
    '<!doctype html><html lang="' +
    escapeAttribute(options.language) +
    '"><head>' +
    `<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(policy)}">` +
    '<meta name="referrer" content="no-referrer"><base target="_blank">' +
    '<style>html,body{margin:0;padding:0;overflow-wrap:anywhere;font-family:"Segoe UI",system-ui,sans-serif;font-size:14px;line-height:1.5}img{max-width:100%;height:auto}</style>' +
    parsed.head.innerHTML +
    '</head><body>' +
    parsed.body.innerHTML +
    '</body></html>'
  );
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
