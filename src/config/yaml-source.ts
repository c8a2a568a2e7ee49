import { ConfigError, type ConfigErrorCode } from '../core/errors.js';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, Scalar, visit, type Document, type Node } from 'yaml';

/** A problem found in a config file, with its 1-based line and column. */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
  severity: 'error' | 'warning';
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}

/** One line per problem, `file:line:col: message`, in file and line order. */
export function formatDiagnostics(diagnostics: Diagnostic[]): string {
  return [...diagnostics].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col).map(formatDiagnostic).join('\n');
}

/**
 * Problems in configuration files, every one at its line and column (hub.yaml, flow files, a load plan): the message
 * is `lead` (when given) and then one line per problem, so the CLI prints them all at once.
 */
export class ConfigFileError extends ConfigError {
  override readonly name: string = 'ConfigFileError';
  constructor(
    code: ConfigErrorCode,
    readonly diagnostics: Diagnostic[],
    lead?: string,
  ) {
    super(code, `${lead ? `${lead}\n` : ''}${formatDiagnostics(diagnostics)}`);
  }
}

/** Above this many alias expansions a document is refused as an alias bomb ("billion laughs" in YAML). */
const MAX_ALIAS_COUNT = 100;

/**
 * One parsed YAML file that remembers where every value came from, so any problem found later (schema, JSONata,
 * a missing sink) can be reported at its line and column.
 */
export class YamlSource {
  readonly value: unknown;
  readonly diagnostics: Diagnostic[] = [];
  readonly #doc: Document.Parsed;
  readonly #lines = new LineCounter();

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.#doc = parseDocument(text, { lineCounter: this.#lines, uniqueKeys: true, prettyErrors: false, merge: false, strict: true, version: '1.2' });
    for (const e of [...this.#doc.errors, ...this.#doc.warnings]) {
      const message = e.code === 'DUPLICATE_KEY' ? `duplicate key: ${firstLine(e.message).replace(/^Map keys must be unique.*$/, 'a key appears twice in this mapping')}` : `YAML ${e.name === 'YAMLWarning' ? 'warning' : 'syntax error'}: ${firstLine(e.message)}`;
      this.#push(e.pos[0], message, e.name === 'YAMLWarning' ? 'warning' : 'error');
    }
    let value: unknown = undefined;
    if (this.#doc.errors.length === 0) {
      let aliases = 0;
      let firstAlias: Node | undefined;
      visit(this.#doc, {
        Alias(_, node) {
          aliases++;
          firstAlias ??= node as unknown as Node;
        },
      });
      try {
        value = this.#doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch (err) {
        if (err instanceof ReferenceError && /alias/i.test(err.message)) {
          this.#push(firstAlias?.range?.[0] ?? 0, `alias expansion refused: ${aliases} aliases expand past ${MAX_ALIAS_COUNT} nodes (an alias bomb?)`);
        } else {
          this.#push(0, `YAML could not be read: ${(err as Error).message}`);
        }
      }
    }
    this.value = value;
  }

  get ok(): boolean {
    return !this.diagnostics.some((d) => d.severity === 'error');
  }

  /**
   * Reports a problem at a path into the document (e.g. ['steps', 2, 'transform', 'jsonata']). `at: 'key'` points
   * at the key of the last segment rather than its value (for unknown keys). `offset` points inside a string value.
   * A path that does not exist points at the deepest part that does.
   */
  report(path: (string | number)[], message: string, options: { at?: 'key' | 'value'; offset?: number; severity?: 'error' | 'warning' } = {}): void {
    this.#push(this.locate(path, options.at ?? 'value', options.offset), message, options.severity ?? 'error');
  }

  /** The offset in the text of the node at a path. */
  locate(path: (string | number)[], at: 'key' | 'value' = 'value', offset?: number): number {
    let node: unknown = this.#doc.contents;
    let pos = (node as Node | null)?.range?.[0] ?? 0;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isAlias(node)) node = node.resolve(this.#doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
        if (!pair) return pos;
        const key = pair.key as Node | null;
        if (last && at === 'key') return key?.range?.[0] ?? pos;
        node = pair.value;
        pos = (node as Node | null)?.range?.[0] ?? key?.range?.[0] ?? pos;
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)];
        if (item === undefined) return pos;
        node = item;
        pos = (node as Node | null)?.range?.[0] ?? pos;
      } else {
        return pos;
      }
    }
    if (offset !== undefined && isScalar(node)) return pos + scalarOffset(this.text, node, offset);
    return pos;
  }

  /** Line and column (1-based) of the node at a path. */
  position(path: (string | number)[]): { line: number; col: number } {
    return this.#lines.linePos(this.locate(path));
  }

  #push(offset: number, message: string, severity: 'error' | 'warning' = 'error'): void {
    const { line, col } = this.#lines.linePos(offset);
    this.diagnostics.push({ file: this.file, line, col, message, severity });
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/** Maps an offset inside a scalar's value to an offset inside the file, for plain, quoted and block scalars. */
function scalarOffset(text: string, node: Scalar, offset: number): number {
  const [start, end] = node.range!;
  const type = node.type;
  if (type === Scalar.PLAIN) return offset;
  if (type === Scalar.QUOTE_DOUBLE || type === Scalar.QUOTE_SINGLE) return offset + 1;
  // Block scalar: the value's lines are the source lines after the header, without their indentation.
  const raw = text.slice(start, end);
  const headerEnd = raw.indexOf('\n');
  if (headerEnd === -1) return 0;
  const value = String(node.value);
  const before = value.slice(0, offset);
  const lineNo = before.split('\n').length - 1;
  const colInLine = offset - (before.lastIndexOf('\n') + 1);
  const lines = raw.slice(headerEnd + 1).split('\n');
  const indent = lines.find((l) => l.trim() !== '')?.match(/^ */)?.[0].length ?? 0;
  let acc = headerEnd + 1;
  let contentLine = 0;
  for (const l of lines) {
    if (contentLine === lineNo) return acc + indent + colInLine;
    acc += l.length + 1;
    contentLine++;
  }
  return headerEnd + 1;
}
