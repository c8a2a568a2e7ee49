/**
 * A message body as readable text: JSON indented, XML one element a line, anything else as it is. The result is a
 * string the page shows as text (never parsed as markup).
 */

export interface PrettyBody {
  kind: 'json' | 'xml' | 'text' | 'binary';
  text: string;
}

export function prettyBody(data: string, encoding: 'utf8' | 'base64', contentType: string | undefined): PrettyBody {
  if (encoding === 'base64') return { kind: 'binary', text: data };
  const type = (contentType ?? '').toLowerCase();
  const trimmed = data.trim();
  if (type.includes('json') || /^[[{]/.test(trimmed)) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(data), null, 2) };
    } catch {
      // Not JSON after all (or cut short by the journal): shown as it is.
    }
  }
  if (type.includes('xml') || trimmed.startsWith('<?xml')) {
    const xml = prettyXml(trimmed);
    if (xml !== undefined) return { kind: 'xml', text: xml };
  }
  return { kind: 'text', text: data };
}

/** XML indented by nesting, from its tags alone; undefined when the tags do not nest. */
export function prettyXml(xml: string): string | undefined {
  const tokens = xml.split(/(<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<[^>]+>)/).filter((t) => t.trim() !== '');
  const lines: string[] = [];
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!.trim();
    const pad = '  '.repeat(depth);
    if (t.startsWith('</')) {
      depth--;
      if (depth < 0) return undefined;
      lines.push('  '.repeat(depth) + t);
    } else if (t.startsWith('<?') || t.startsWith('<!') || t.endsWith('/>')) {
      lines.push(pad + t);
    } else if (t.startsWith('<')) {
      // <a>text</a> stays on one line.
      const text = tokens[i + 1];
      const close = tokens[i + 2];
      if (text !== undefined && !text.trim().startsWith('<') && close?.trim().startsWith('</')) {
        lines.push(pad + t + text.trim() + close.trim());
        i += 2;
      } else {
        lines.push(pad + t);
        depth++;
      }
    } else {
      lines.push(pad + t);
    }
  }
  return depth === 0 ? lines.join('\n') : undefined;
}
