// Parses a WWW-Authenticate header (RFC 7235 auth-params) into the first
// challenge keel can answer: Bearer (token service) or Basic.

export interface BearerChallenge {
  readonly scheme: 'bearer';
  readonly realm: string;
  readonly service?: string | undefined;
  readonly scope?: string | undefined;
}

export interface BasicChallenge {
  readonly scheme: 'basic';
  readonly realm?: string | undefined;
}

export type Challenge = BearerChallenge | BasicChallenge;

/** All challenges in the header, parsed; unknown schemes are kept out. */
export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const value of values) {
    for (const { scheme, params } of splitChallenges(value)) {
      if (scheme === 'bearer' && params.realm) {
        out.push({ scheme, realm: params.realm, service: params.service, scope: params.scope });
      } else if (scheme === 'basic') {
        out.push({ scheme, realm: params.realm });
      }
    }
  }
  return out;
}

/** The challenge keel prefers: Bearer over Basic. */
export function pickChallenge(header: string | string[] | undefined): Challenge | undefined {
  const all = parseWwwAuthenticate(header);
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

function splitChallenges(value: string): { scheme: string; params: Record<string, string> }[] {
  const result: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  let current: { scheme: string; params: Record<string, string> } | undefined;
  const n = value.length;
  while (i < n) {
    while (i < n && (value[i] === ' ' || value[i] === ',' || value[i] === '\t')) i++;
    const tokenMatch = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(value.slice(i));
    if (!tokenMatch) break;
    const token = tokenMatch[0];
    let j = i + token.length;
    while (j < n && (value[j] === ' ' || value[j] === '\t')) j++;
    if (value[j] === '=') {
      // auth-param of the current challenge
      j++;
      while (j < n && (value[j] === ' ' || value[j] === '\t')) j++;
      let val = '';
      if (value[j] === '"') {
        j++;
        while (j < n && value[j] !== '"') {
          if (value[j] === '\\' && j + 1 < n) j++;
          val += value[j];
          j++;
        }
        j++;
      } else {
        const m = /^[^,\s]*/.exec(value.slice(j));
        val = m ? m[0] : '';
        j += val.length;
      }
      if (current) current.params[token.toLowerCase()] = val;
      i = j;
    } else {
      current = { scheme: token.toLowerCase(), params: Object.create(null) as Record<string, string> };
      result.push(current);
      i = j;
    }
  }
  return result;
}
