// Charts rendered to PNG with gnuplot (Debian's gnuplot-nox), for docs/img/.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function plot(png: string, script: (dataDir: string) => string, data: Record<string, string>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "plot-"));
  for (const [name, text] of Object.entries(data)) writeFileSync(join(dir, name), text);
  const proc = Bun.spawn(["gnuplot"], { stdin: new Blob([`set terminal pngcairo size 900,480 font ",10"\nset output "${png}"\n${script(dir)}`]), stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`gnuplot failed: ${err}`);
}
