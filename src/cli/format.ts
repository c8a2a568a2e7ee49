/** Terminal output of the operator commands: aligned tables, one-line clips, indented blocks. */

export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** The text on one line, cut to `n` characters with an ellipsis. */
export function clip(s: string, n: number): string {
  const line = s.replace(/\s+/g, ' ');
  return line.length > n ? `${line.slice(0, n - 1)}…` : line;
}

export function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** An error as the journal records it, on one line: CODE at STEP: message. */
export function errorLine(e: { code: string; step?: string; message: string }): string {
  return `${e.code}${e.step ? ` at ${e.step}` : ''}: ${e.message}`;
}
