// Just enough PromQL lexing to check the ops artifacts (otel/alerts.yml, otel/dashboard.json)
// against the service's metric catalogue: which series names an expression reads, and how its
// aggregations group. Not a parser: it trusts the expression to be valid PromQL (promtool checks that).

export interface Token {
  kind: 'ident' | 'number' | 'string' | 'selector' | 'range' | 'variable' | 'punct';
  /** Identifier, punctuation character, or the text between the braces/brackets of a selector/range. */
  text: string;
  /** Offset in the expression. */
  pos: number;
}

/** Keywords that take a parenthesised label list: `by (a, b)`, `on (job)`, `group_left (x)`. */
const GROUPING_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
/** Other keywords and keyword-like literals (PromQL keywords are case-insensitive). */
const KEYWORDS = new Set(['bool', 'offset', 'and', 'or', 'unless', 'atan2', 'inf', 'nan']);
/** Aggregation operators. */
export const AGGREGATIONS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
]);

const IDENT_START = /[A-Za-z_:]/;
const IDENT_CHAR = /[A-Za-z0-9_:]/;

export function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = expr.length;

  /** Index just past the string literal starting at `start`. */
  const skipString = (start: number): number => {
    const quote = expr[start];
    let j = start + 1;
    while (j < n && expr[j] !== quote) j += quote !== '`' && expr[j] === '\\' ? 2 : 1;
    if (j >= n) throw new Error(`unterminated string at ${start} in ${expr}`);
    return j + 1;
  };
  /** Index of the `close` matching the opener at `start`, skipping string literals. */
  const skipTo = (start: number, close: string): number => {
    let j = start + 1;
    while (j < n && expr[j] !== close) j = expr[j] === '"' || expr[j] === "'" || expr[j] === '`' ? skipString(j) : j + 1;
    if (j >= n) throw new Error(`unbalanced ${expr[start]} at ${start} in ${expr}`);
    return j;
  };

  while (i < n) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < n && expr[i] !== '\n') i++; // comment
    } else if (c === '"' || c === "'" || c === '`') {
      const end = skipString(i);
      tokens.push({ kind: 'string', text: expr.slice(i + 1, end - 1), pos: i });
      i = end;
    } else if (c === '{') {
      const end = skipTo(i, '}');
      tokens.push({ kind: 'selector', text: expr.slice(i + 1, end), pos: i });
      i = end + 1;
    } else if (c === '[') {
      const end = skipTo(i, ']');
      tokens.push({ kind: 'range', text: expr.slice(i + 1, end), pos: i });
      i = end + 1;
    } else if (c === '$') {
      // Grafana variable: $name, ${name}, ${name:format}, [[name]] is not supported.
      let j = i + 1;
      if (expr[j] === '{') j = skipTo(j, '}') + 1;
      else while (j < n && IDENT_CHAR.test(expr[j])) j++;
      tokens.push({ kind: 'variable', text: expr.slice(i, j), pos: i });
      i = j;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(expr[i + 1] ?? ''))) {
      // Number, hex number or duration (5m, 1h30m, 1.5e3, 0x1f).
      let j = i;
      while (j < n && /[0-9A-Za-z_.]/.test(expr[j])) {
        j++;
        if (/[eE]/.test(expr[j - 1]) && /[+-]/.test(expr[j] ?? '') && /[0-9]/.test(expr[j + 1] ?? '') && !/^0[xX]/.test(expr.slice(i, j))) j++;
      }
      tokens.push({ kind: 'number', text: expr.slice(i, j), pos: i });
      i = j;
    } else if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_CHAR.test(expr[j])) j++;
      tokens.push({ kind: 'ident', text: expr.slice(i, j), pos: i });
      i = j;
    } else {
      tokens.push({ kind: 'punct', text: c, pos: i });
      i++;
    }
  }
  return tokens;
}

/** Index of the `)` matching the `(` at `open`. */
function matchingParen(tokens: Token[], open: number): number {
  let depth = 0;
  for (let j = open; j < tokens.length; j++) {
    if (tokens[j].kind !== 'punct') continue;
    if (tokens[j].text === '(') depth++;
    else if (tokens[j].text === ')' && --depth === 0) return j;
  }
  throw new Error('unbalanced parentheses');
}

const isPunct = (t: Token | undefined, text: string) => t?.kind === 'punct' && t.text === text;

export interface Selector {
  /** Series name: the identifier, or `__name__="..."` of a bare `{...}` selector. */
  name: string;
  /** The label matchers between the braces ('' when there are none). */
  matchers: string;
}

/** Every series selector in `expr`, in order of appearance. */
export function selectorsIn(expr: string): Selector[] {
  const tokens = tokenize(expr);
  const out: Selector[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === 'ident') {
      const lower = t.text.toLowerCase();
      if (GROUPING_KEYWORDS.has(lower)) {
        if (isPunct(tokens[i + 1], '(')) i = matchingParen(tokens, i + 1);
        continue;
      }
      if (KEYWORDS.has(lower)) continue;
      if (isPunct(tokens[i + 1], '(')) continue; // function call or aggregation
      const following = tokens[i + 1]?.kind === 'ident' ? tokens[i + 1].text.toLowerCase() : '';
      if (AGGREGATIONS.has(lower) && (following === 'by' || following === 'without')) continue; // `sum by (a) (...)`
      const next = tokens[i + 1];
      if (next?.kind === 'selector') {
        out.push({ name: t.text, matchers: next.text.trim() });
        i++;
      } else {
        out.push({ name: t.text, matchers: '' });
      }
    } else if (t.kind === 'selector') {
      // `{__name__="x", ...}` without a leading identifier.
      const m = /(?:^|,)\s*__name__\s*=\s*(["'`])(.*?)\1/.exec(t.text);
      if (m) out.push({ name: m[2], matchers: t.text.trim() });
    }
  }
  return out;
}

/**
 * The metric (series) names a PromQL expression reads, deduplicated, in order of appearance.
 * Full series names are kept (`rtf_bucket`, not `rtf`); functions, aggregation operators,
 * keywords, label names, strings, numbers, durations and Grafana variables are skipped.
 */
export function metricNamesIn(expr: string): string[] {
  return [...new Set(selectorsIn(expr).map((s) => s.name))];
}

export interface Aggregation {
  /** e.g. `sum` (lower case). */
  op: string;
  /** The grouping clause, prefix (`sum by (a) (...)`) or postfix (`sum(...) by (a)`). */
  grouping: 'by' | 'without' | null;
  labels: string[];
  /** The source text of the aggregated argument(s), e.g. `rate(x[5m])` or `5, rate(x[5m])` for topk. */
  argument: string;
}

/** Every aggregation in `expr` (outermost first), with its grouping labels and argument text. */
export function aggregationsIn(expr: string): Aggregation[] {
  const tokens = tokenize(expr);
  const out: Aggregation[] = [];
  const readLabels = (open: number): { labels: string[]; close: number } => {
    const close = matchingParen(tokens, open);
    const labels = tokens.slice(open + 1, close).filter((t) => t.kind === 'ident' || t.kind === 'string').map((t) => t.text);
    return { labels, close };
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind !== 'ident' || !AGGREGATIONS.has(t.text.toLowerCase())) continue;
    let j = i + 1;
    let grouping: Aggregation['grouping'] = null;
    let labels: string[] = [];
    const clause = (k: number) => {
      const kw = tokens[k]?.kind === 'ident' ? tokens[k].text.toLowerCase() : '';
      return (kw === 'by' || kw === 'without') && isPunct(tokens[k + 1], '(') ? kw : null;
    };
    const prefix = clause(j);
    if (prefix) {
      const r = readLabels(j + 1);
      grouping = prefix;
      labels = r.labels;
      j = r.close + 1;
    }
    if (!isPunct(tokens[j], '(')) continue; // a metric that happens to be called e.g. `count`
    const close = matchingParen(tokens, j);
    const postfix = grouping ? null : clause(close + 1);
    if (postfix) {
      grouping = postfix;
      labels = readLabels(close + 2).labels;
    }
    out.push({ op: t.text.toLowerCase(), grouping, labels, argument: expr.slice(tokens[j].pos + 1, tokens[close].pos).trim() });
  }
  return out;
}
