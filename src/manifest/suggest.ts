// "Did you mean …?" — the nearest candidate to a misspelt key or value.
// Only suggests when the candidate is plausibly what was meant (small edit
// distance, a case-only difference, or a missing prefix like CAP_/SIG).

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

export function nearest(input: string, candidates: Iterable<string>): string | undefined {
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    let score: number;
    if (cl === lower || cl === `cap_${lower}` || cl === `sig${lower}`) score = 0;
    else {
      const d = editDistance(lower, cl);
      score = d <= Math.max(2, Math.floor(c.length / 3)) ? d : Infinity;
    }
    if (score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  const n = nearest(input, candidates);
  return n === undefined ? undefined : `did you mean ${n}?`;
}
