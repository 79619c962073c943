// Where a JSON path sits in the config file: line and column for every problem line, from the
// syntax tree of jsonc-parser (Microsoft's parser behind VS Code's JSON support), which keeps the
// offset of every key and value. JSON.parse stays the judge of what is valid JSON (RFC 8259, the
// value the proxy runs on); the tree only says where things are, and where a syntax error is when
// V8's message gives no position.
import { parseTree } from 'jsonc-parser';
import type { Node, ParseError } from 'jsonc-parser';

export type PathKey = string | number;

/** Points a problem at the key of its last path segment (unknown or refused keys) or at its value. */
export type Anchor = 'key' | 'value';

export interface Position {
  readonly offset: number;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units (what editors count). */
  readonly column: number;
}

/** The config's text with its syntax tree: positions of JSON paths. */
export class SourceMap {
  readonly #text: string;
  readonly #root: Node | undefined;
  /** Offsets where each line starts, for a binary search instead of a scan per problem. */
  readonly #lineStarts: number[];
  /** Offset of the first syntax error (comments and trailing commas count: the file is JSON), or null. */
  readonly firstSyntaxError: number | null;

  constructor(text: string) {
    this.#text = text;
    const errors: ParseError[] = [];
    this.#root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    this.firstSyntaxError = errors[0]?.offset ?? null;
    this.#lineStarts = [0];
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.#lineStarts.push(i + 1);
  }

  /** Line and column of `offset`. */
  at(offset: number): Position {
    const end = Math.max(0, Math.min(offset, this.#text.length));
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#lineStarts[mid] as number) <= end) lo = mid;
      else hi = mid - 1;
    }
    return { offset: end, line: lo + 1, column: end - (this.#lineStarts[lo] as number) + 1 };
  }

  /**
   * Where `path` is written: its value (or its key, for `anchor` "key"). A path that is not in the
   * file (a required key left out) points at the nearest object or array that is: where it belongs.
   * A key written twice is looked up at its last occurrence, the one JSON.parse keeps.
   */
  locate(path: readonly PathKey[], anchor: Anchor = 'value'): Position {
    let node = this.#root;
    if (node === undefined) return this.at(0);
    for (let i = 0; i < path.length; i++) {
      const child = childOf(node, path[i] as PathKey);
      if (child === undefined) break;
      if (i === path.length - 1 && anchor === 'key' && child.parent?.type === 'property') return this.at(child.parent.offset);
      node = child;
    }
    return this.at(node.offset);
  }
}

/** The value node under `key` of an object (last property of that name) or array. */
function childOf(node: Node, key: PathKey): Node | undefined {
  const children = node.children ?? [];
  if (node.type === 'array') return typeof key === 'number' ? children[key] : undefined;
  if (node.type !== 'object') return undefined;
  for (let i = children.length - 1; i >= 0; i--) {
    const property = children[i] as Node;
    if (property.children?.[0]?.value === String(key)) return property.children[1];
  }
  return undefined;
}

