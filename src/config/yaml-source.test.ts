import { describe, expect, it } from 'vitest';
import { YamlSource } from './yaml-source.js';

describe('YamlSource', () => {
  it('reports syntax errors at their line and column', () => {
    const src = new YamlSource('f.yaml', 'name: a\nsource:\n  rest: { path: /x\n');
    expect(src.ok).toBe(false);
    expect(src.diagnostics[0]).toMatchObject({ file: 'f.yaml', line: expect.any(Number), severity: 'error' });
    expect(src.diagnostics[0]!.message).toMatch(/YAML syntax error/);
  });
  it('reports duplicate keys at the second key', () => {
    const src = new YamlSource('f.yaml', 'name: a\nname: b\n');
    expect(src.diagnostics).toHaveLength(1);
    expect(src.diagnostics[0]).toMatchObject({ line: 2, col: 1 });
    expect(src.diagnostics[0]!.message).toMatch(/duplicate key/);
  });
  it('refuses alias bombs', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]'].join('\n');
    const src = new YamlSource('bomb.yaml', bomb);
    expect(src.ok).toBe(false);
    expect(src.diagnostics[0]!.message).toMatch(/alias/);
    expect(src.diagnostics[0]!.line).toBe(2);
  });
  it('locates values, keys and offsets inside plain, quoted and block scalars', () => {
    const text = ['name: a', 'steps:', '  - transform:', '      jsonata: "foo + "', '  - transform:', '      jsonata: |', '        {', '          "a": b +', '        }', ''].join('\n');
    const src = new YamlSource('f.yaml', text);
    src.report(['steps', 0, 'transform', 'jsonata'], 'm1', { offset: 4 });
    src.report(['steps', 1, 'transform'], 'm2', { at: 'key' });
    src.report(['steps', 1, 'transform', 'jsonata'], 'm3', { offset: '{\n  "a": b'.length });
    expect(src.diagnostics.map((d) => [d.line, d.col])).toEqual([
      [4, 21],
      [5, 5],
      [8, 17],
    ]);
  });
});
