import { describe, expect, it } from "vitest";
import { BigramModel } from "../../src/train/bigram.js";
import { lossChartSvg } from "../../src/train/chart.js";
import { TinyLMError } from "../../src/errors.js";

describe("the smoothed bigram baseline", () => {
  const tokens = [0, 1, 2, 0, 1, 2, 0, 1, 3, 4, 0, 1, 2];
  const model = new BigramModel(tokens, 6);

  it("is a distribution after every previous token, seen or not", () => {
    for (let prev = 0; prev < 6; prev++) {
      let s = 0;
      for (let next = 0; next < 6; next++) s += model.probability(prev, next);
      expect(s).toBeCloseTo(1, 12);
    }
  });

  it("prefers seen continuations, and beats the uniform model on its own text", () => {
    expect(model.probability(0, 1)).toBeGreaterThan(0.8);
    expect(model.probability(1, 2)).toBeGreaterThan(model.probability(1, 3));
    expect(model.probability(1, 5)).toBeGreaterThan(0); // never seen: smoothed, not zero
    expect(model.crossEntropy(tokens.slice(0, -1), tokens.slice(1))).toBeLessThan(Math.log(6));
  });

  it("rejects tokens outside the vocabulary", () => {
    expect(() => new BigramModel([0, 7], 6)).toThrow(TinyLMError);
  });
});

describe("the loss chart", () => {
  it("draws one polyline per curve, inside the canvas", () => {
    const svg = lossChartSvg([
      { label: "train", color: "#1f77b4", points: [{ step: 1, loss: 8 }, { step: 50, loss: 4 }, { step: 100, loss: 3.2 }] },
      { label: "held-out", color: "#d62728", points: [{ step: 50, loss: 4.4 }, { step: 100, loss: 3.6 }] },
    ], { title: "pretraining" });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    const coords = [...svg.matchAll(/points="([^"]+)"/g)].flatMap((m) => m[1].split(" ").map((p) => p.split(",").map(Number)));
    for (const [x, y] of coords) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(720);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(420);
    }
  });
});

describe("encodeLines", () => {
  it("gives the ids of the joined text for a string, an array and an async iterable of lines", async () => {
    const { encodeLines } = await import("../../src/train/data.js");
    const tok = { encode: (text: string) => Array.from(text, (c) => c.charCodeAt(0)) };
    const want = Array.from("ab\ncd\ne", (c) => c.charCodeAt(0));
    async function* lines() {
      yield "ab";
      yield "cd";
      yield "e";
    }
    expect(Array.from(await encodeLines(tok, "ab\ncd\ne"))).toEqual(want);
    expect(Array.from(await encodeLines(tok, ["ab", "cd", "e"]))).toEqual(want);
    expect(Array.from(await encodeLines(tok, lines()))).toEqual(want);
    await expect(encodeLines(tok, 42 as never)).rejects.toThrow(TinyLMError);
  });
});
