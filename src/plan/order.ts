// Dependency order between containers, from their ordering keys (after,
// before, requires, wants as unit names). Pure. Start order puts a container
// after everything it is ordered after or requires; removal runs the reverse;
// dependents are the containers that would be stopped or left without a
// dependency when one is restarted or removed.

export interface DependencyNode {
  readonly name: string;
  /** NAME.service */
  readonly unit: string;
  readonly after: readonly string[];
  readonly before: readonly string[];
  readonly requires: readonly string[];
  readonly wants: readonly string[];
}

/** A node from a stored spec (keel-bundle.json's canonical JSON); undefined if it lacks the keys. */
export function nodeFromSpec(spec: Readonly<Record<string, unknown>> | undefined): DependencyNode | undefined {
  if (spec === undefined || typeof spec['name'] !== 'string' || typeof spec['unit'] !== 'string') return undefined;
  const list = (k: string): string[] => (Array.isArray(spec[k]) ? (spec[k] as unknown[]).filter((x): x is string => typeof x === 'string') : []);
  return { name: spec['name'], unit: spec['unit'], after: list('after'), before: list('before'), requires: list('requires'), wants: list('wants') };
}

/** For each node, the names it must start after (among `nodes`). */
function predecessors(nodes: readonly DependencyNode[]): Map<string, Set<string>> {
  const byUnit = new Map(nodes.map((n) => [n.unit, n]));
  const deps = new Map<string, Set<string>>(nodes.map((n) => [n.name, new Set<string>()]));
  for (const n of nodes) {
    for (const u of [...n.after, ...n.requires]) {
      const d = byUnit.get(u);
      if (d && d.name !== n.name) deps.get(n.name)?.add(d.name);
    }
    for (const u of n.before) {
      const d = byUnit.get(u);
      if (d && d.name !== n.name) deps.get(d.name)?.add(n.name);
    }
  }
  return deps;
}

/**
 * `names` in start order (dependencies first), stable otherwise: a name keeps
 * its place unless something it depends on comes later. Cycles (the manifest
 * validator refuses them) are broken by input order rather than looping.
 */
export function startOrder(names: readonly string[], nodes: readonly DependencyNode[]): string[] {
  const deps = predecessors(nodes);
  const wanted = new Set(names);
  const done = new Set<string>();
  const out: string[] = [];
  const pending = [...names];
  while (pending.length > 0) {
    const i = pending.findIndex((n) => [...(deps.get(n) ?? [])].every((d) => !wanted.has(d) || done.has(d)));
    const [next] = pending.splice(i < 0 ? 0 : i, 1) as [string];
    done.add(next);
    out.push(next);
  }
  return out;
}

/** `names` in stop order: dependents first. */
export function stopOrder(names: readonly string[], nodes: readonly DependencyNode[]): string[] {
  return startOrder(names, nodes).reverse();
}

/**
 * The containers that depend on `name` through requires, wants or after
 * (transitively), in start order: they are restarted after it on update and
 * rollback, so that they reconnect to the new one.
 */
export function dependentsOf(name: string, nodes: readonly DependencyNode[]): string[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const found = new Set<string>();
  const queue = [name];
  while (queue.length > 0) {
    const unit = byName.get(queue.shift() as string)?.unit;
    if (unit === undefined) continue;
    for (const n of nodes) {
      if (n.name === name || found.has(n.name)) continue;
      if ([...n.requires, ...n.wants, ...n.after].includes(unit)) {
        found.add(n.name);
        queue.push(n.name);
      }
    }
  }
  return startOrder([...found], nodes);
}

/** The containers whose units hard-require `name` (requires), directly. */
export function requirersOf(name: string, nodes: readonly DependencyNode[]): string[] {
  const unit = nodes.find((n) => n.name === name)?.unit ?? `${name}.service`;
  return nodes.filter((n) => n.name !== name && n.requires.includes(unit)).map((n) => n.name);
}
