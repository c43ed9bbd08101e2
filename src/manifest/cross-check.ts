// Checks across all documents of all files given together: container names
// are unique, ordering references name a known system container or look
// like a host unit (have a unit suffix), nothing refers to itself, and
// after/before/requires do not form a cycle between containers. Then builds
// the specs of the documents that had no problem.

import type { ManifestProblem } from './problem.ts';
import type { ParsedDocument } from './parse-text.ts';
import { buildSpec, type ContainerSpec } from './spec.ts';
import { didYouMean } from './suggest.ts';

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly doc: ParsedDocument;
  readonly at: { line: number; column: number };
  readonly path: string;
}

export function crossCheck(docs: readonly ParsedDocument[]): { specs: ContainerSpec[]; problems: ManifestProblem[] } {
  const problems: ManifestProblem[] = [];
  const owner = new Map<string, ParsedDocument>();
  for (const doc of docs) {
    if (doc.name === undefined) continue;
    const first = owner.get(doc.name);
    if (first === undefined) owner.set(doc.name, doc);
    else {
      problems.push({
        file: doc.file, ...doc.nameAt, path: 'name',
        message: `system container ${doc.name} is already defined at ${first.file}:${first.nameAt.line}:${first.nameAt.column}`,
        hint: 'names must be unique across all manifests applied together',
      });
    }
  }

  const edges: Edge[] = [];
  const bad = new Set<ParsedDocument>();
  for (const doc of docs) {
    if (doc.name === undefined || owner.get(doc.name) !== doc) continue;
    for (const r of doc.refs) {
      const hostUnit = r.ref.includes('.');
      const target = hostUnit ? (r.ref.endsWith('.service') && owner.has(r.ref.slice(0, -'.service'.length)) ? r.ref.slice(0, -'.service'.length) : undefined) : r.ref;
      const report = (message: string, hint?: string): void => {
        problems.push({ file: doc.file, ...r.at, path: r.path, message, hint });
        bad.add(doc);
      };
      if (target === undefined) continue; // a host unit
      if (target === doc.name) report(`${doc.name} cannot refer to itself`);
      else if (!owner.has(target)) {
        report(`unknown system container ${target}`, didYouMean(target, owner.keys()) ?? `name a system container in the manifests given, or a host unit with its suffix (${target}.service, ${target}.target)`);
      } else if (r.key !== 'wants') {
        const [from, to] = r.key === 'before' ? [target, doc.name] : [doc.name, target];
        edges.push({ from, to, doc, at: r.at, path: r.path });
      }
    }
  }
  for (const cycle of findCycles(edges)) {
    const closing = cycle[cycle.length - 1];
    if (closing === undefined) continue;
    problems.push({
      file: closing.doc.file, ...closing.at, path: closing.path,
      message: `ordering cycle: ${[...cycle.map((e) => e.from), cycle[0]?.from ?? ''].join(' after ')}`,
      hint: 'after/before/requires between system containers must not loop; remove one of these references',
    });
    for (const e of cycle) bad.add(e.doc);
  }

  const specs: ContainerSpec[] = [];
  for (const doc of docs) {
    if (doc.raw === undefined || doc.name === undefined || owner.get(doc.name) !== doc || bad.has(doc)) continue;
    specs.push(buildSpec(doc.raw, { file: doc.file, line: doc.line }));
  }
  return { specs, problems };
}

/** Each elementary cycle found by a DFS, reported once (edges in order, "A must start after B" as A -> B). */
function findCycles(edges: readonly Edge[]): Edge[][] {
  const out = new Map<string, Edge[]>();
  for (const e of edges) {
    const list = out.get(e.from) ?? [];
    list.push(e);
    out.set(e.from, list);
  }
  const state = new Map<string, 'active' | 'done'>();
  const stack: Edge[] = [];
  const cycles: Edge[][] = [];
  const visit = (node: string): void => {
    state.set(node, 'active');
    for (const e of out.get(node) ?? []) {
      const s = state.get(e.to);
      if (s === 'active') {
        const startIdx = stack.findIndex((x) => x.from === e.to);
        cycles.push([...stack.slice(startIdx < 0 ? stack.length : startIdx), e]);
      } else if (s === undefined) {
        stack.push(e);
        visit(e.to);
        stack.pop();
      }
    }
    state.set(node, 'done');
  };
  for (const node of [...out.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}
