import { marked } from 'marked';
import DOMPurify from 'dompurify';

/**
 * A model card (a README pushed with the model) as inert HTML: Markdown rendered by marked, then every
 * script, event handler, style, form and javascript: URL removed by DOMPurify. The page's
 * Content-Security-Policy would refuse inline script anyway; this keeps the card from restyling the page
 * or faking its buttons.
 */
// A card's image without a description would be silent to a screen reader: it gets a plain one.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'IMG' && !node.hasAttribute('alt')) node.setAttribute('alt', 'image in the model card');
});

export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true }) as string;
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed'],
    FORBID_ATTR: ['style'],
  });
}
