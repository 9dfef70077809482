import { describe, expect, it } from "vitest";
import { ProgressBar } from "../../src/node/progress.js";

function collector(isTTY: boolean): { stream: { write(t: string): void; isTTY: boolean }; text(): string } {
  let out = "";
  return { stream: { write: (t: string) => void (out += t), isTTY }, text: () => out };
}

describe("ProgressBar", () => {
  it("prints a few whole lines when the output is not a terminal", () => {
    const c = collector(false);
    const bar = new ProgressBar("work", 1000, { stream: c.stream });
    for (let i = 1; i <= 1000; i++) bar.update(i, `item ${i}`);
    bar.done("finished");
    const lines = c.text().trimEnd().split("\n");
    expect(c.text()).not.toContain("\r");
    expect(lines).toHaveLength(4); // 25%, 50%, 75%, then done
    expect(lines[0]).toMatch(/work \[######\.+\] 250\/1000\s+25% .*item 250/);
    expect(lines[3]).toMatch(/\[#{24}\] 1000\/1000 100% .*finished$/);
  });

  it("redraws in place on a terminal and ends its line once", () => {
    const c = collector(true);
    const bar = new ProgressBar("work", 10, { stream: c.stream });
    bar.update(3);
    bar.done();
    bar.done();
    expect(c.text().startsWith("\r")).toBe(true);
    expect(c.text().split("\n")).toHaveLength(2);
    expect(c.text()).toContain("10/10 100%");
  });

  it("keeps the last status on the final line, so a run's last metrics are not erased", () => {
    for (const tty of [false, true]) {
      const c = collector(tty);
      const bar = new ProgressBar("work", 2, { stream: c.stream });
      bar.update(1, "loss 2.0");
      bar.update(2, "loss 1.5");
      bar.done();
      expect(c.text().trimEnd().split(/[\r\n]/).at(-1)).toMatch(/2\/2 100% .*loss 1\.5(\x1b\[K)?$/);
    }
  });
});
