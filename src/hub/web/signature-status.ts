// What the repository page says about a tag's signature: the summary the catalogue API gives too
// (src/hub/signature-status.ts: verified with a key the owner registered, unverified, or unsigned).

import type { SignatureSummary } from '../signature-status.js';
import { type Html, html } from './html.js';

export function signatureStatus(s: SignatureSummary | undefined): Html {
  if (!s) return html`<span class="muted">—</span>`;
  if (s.status === 'verified')
    return html`<span class="signed">verified</span>${s.signedBy.length ? html` <small>by ${s.signedBy.join(', ')}</small>` : ''}`;
  if (s.status === 'unverified') return html`<span class="error">unverified</span>`;
  return html`<span class="muted">unsigned</span>`;
}
