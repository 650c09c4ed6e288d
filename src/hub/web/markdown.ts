// READMEs as HTML with markdown-it, raw HTML off: tags in the source come out as text, and links and
// images keep only http(s), mailto and relative URLs (javascript:, data: and every other scheme stay
// text). Links carry rel="nofollow noopener"; headings move one level down, under the page's own.

import MarkdownIt from 'markdown-it';
import { type Html, trusted } from './html.js';

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });

md.validateLink = (url: string): boolean => {
  const u = url.trim().toLowerCase();
  return !/^[a-z][a-z0-9+.-]*:/.test(u) || /^(https?|mailto):/.test(u);
};

const defaultLinkOpen =
  md.renderer.rules.link_open ??
  ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx].attrSet('rel', 'nofollow noopener');
  return defaultLinkOpen(tokens, idx, options, env, self);
};

// The page has its own h1 and a "README" h2: the README's headings go one level down (h1 -> h2 ... h6).
md.core.ruler.push('shift_headings', (state) => {
  for (const t of state.tokens)
    if (t.type === 'heading_open' || t.type === 'heading_close')
      t.tag = `h${Math.min(Number(t.tag.slice(1)) + 1, 6)}`;
  return true;
});

export function renderMarkdown(source: string): Html {
  return trusted(md.render(source));
}
