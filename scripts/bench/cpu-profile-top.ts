/**
 * The functions that used the most CPU in V8 CPU profiles (.cpuprofile files from `node --cpu-prof` or from
 * the inspector's Profiler): self time summed per function and place over all the profiles, largest first.
 *
 *   node --import tsx scripts/bench/cpu-profile-top.ts FILE.cpuprofile... [--top 15]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }>;
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function place(url: string, line: number): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const shown = path.startsWith(ROOT) ? relative(ROOT, path) : path;
  return `${shown.replace(/^.*node_modules\//, 'node_modules/')}:${line + 1}`;
}

/** Self time per function (same name and place), from the profiles' samples and their time deltas. */
export function topSelfTime(profiles: CpuProfile[], top = 15): { totalMs: number; entries: ProfileEntry[] } {
  const selfMicros = new Map<string, { name: string; where: string; micros: number }>();
  let total = 0;
  for (const profile of profiles) total += addSelfTime(profile, selfMicros);
  const entries = [...selfMicros.values()]
    .sort((a, b) => b.micros - a.micros)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.micros / 1000, share: total ? e.micros / total : 0 }));
  return { totalMs: total / 1000, entries };
}

function addSelfTime(profile: CpuProfile, selfMicros: Map<string, { name: string; where: string; micros: number }>): number {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let total = 0;
  for (let i = 0; i < samples.length; i += 1) {
    // V8 records the delta before a sample; the time until the next sample belongs to this one.
    const micros = deltas[i + 1] ?? 0;
    const node = byNode.get(samples[i]!);
    if (!node || micros <= 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = place(url, lineNumber);
    const key = `${name}\u0000${where}`;
    const entry = selfMicros.get(key) ?? { name, where, micros: 0 };
    entry.micros += micros;
    selfMicros.set(key, entry);
    total += micros;
  }
  return total;
}

export function formatTop(result: { totalMs: number; entries: ProfileEntry[] }): string {
  const lines = [`CPU profile: ${result.totalMs.toFixed(0)} ms sampled; top self time:`];
  for (const e of result.entries) {
    lines.push(`  ${e.selfMs.toFixed(1).padStart(8)} ms ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.name}${e.where ? `  ${e.where}` : ''}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
  const top = Number(values.top);
  if (positionals.length === 0 || !Number.isInteger(top) || top <= 0) {
    console.error('usage: cpu-profile-top.ts FILE.cpuprofile... [--top N]');
    process.exit(2);
  }
  const profiles = positionals.map((file) => {
    let profile: CpuProfile;
    try {
      profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    } catch (error) {
      console.error(`cannot read ${file} as a CPU profile: ${(error as Error).message}`);
      process.exit(2);
    }
    if (!Array.isArray(profile.nodes)) {
      console.error(`${file} is not a CPU profile (it has no "nodes" list)`);
      process.exit(2);
    }
    return profile;
  });
  console.log(formatTop(topSelfTime(profiles, top)));
}
