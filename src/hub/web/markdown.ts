// READMEs as HTML with markdown-it, raw HTML off: tags in the source come out as text, and links and
// images keep only http(s), mailto and relative URLs (markdown-it's validateLink drops javascript:,
// vbscript:, file: and data: other than images). Links open with rel="nofollow noopener".

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

export function renderMarkdown(source: string): Html {
  return trusted(md.render(source));
}
